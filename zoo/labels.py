"""Class labels of conditional models p(x | y): what users pass, and what networks take.

Users pass labels as integer class ids (a list, numpy array or tensor) or, for a model
that knows its classes' names, as those names. Inside, a label is a one-hot float32 row
`[batch, num_classes]`: every family appends it to a network input (see each family's
docs for where), which needs no embedding table and lets a zero row mean "no class".
"""

import numbers

import numpy as np
import tensorflow as tf
from vaezoo_edge import labels as edge_labels

frequencies = edge_labels.frequencies


def _short(value, limit=80):
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def check_num_classes(num_classes):
    """`num_classes` as an int >= 2, or None (an unconditional model)."""
    if num_classes is None:
        return None
    if isinstance(num_classes, bool) or not isinstance(num_classes, numbers.Integral):
        raise TypeError("num_classes must be an integer >= 2 or None. "
                        f"Received: num_classes={_short(num_classes)}")
    if num_classes < 2:
        raise ValueError("num_classes must be >= 2 (None for an unconditional model). "
                         f"Received: num_classes={num_classes}")
    return int(num_classes)


def check_class_names(class_names, num_classes):
    """`class_names` as a tuple of `num_classes` distinct strings, or None."""
    if class_names is None:
        return None
    if num_classes is None:
        raise ValueError("class_names needs num_classes (a conditional model). "
                         f"Received: class_names={_short(class_names)}, num_classes=None")
    if isinstance(class_names, str) or not all(isinstance(c, str) for c in class_names):
        raise TypeError("class_names must be a list of strings. "
                        f"Received: class_names={_short(class_names)}")
    names = tuple(class_names)
    if len(names) != num_classes or len(set(names)) != len(names):
        raise ValueError(f"class_names must hold {num_classes} distinct names (num_classes). "
                         f"Received: class_names={_short(names)}")
    return names


def check_labels(labels, n, num_classes, class_names=None, name="labels"):
    """Labels as int32 class ids `[n]` (`vaezoo_edge.labels.check_labels`, which the edge
    sampler uses too), also from an eager tensor."""
    if isinstance(labels, tf.Tensor):
        labels = labels.numpy()
    return edge_labels.check_labels(labels, n, num_classes, class_names, name)


def one_hot(ids, num_classes):
    """One-hot float32 codes `[batch, num_classes]` of int class ids `[batch]` (traceable)."""
    return tf.one_hot(tf.cast(tf.reshape(ids, [-1]), tf.int32), num_classes, dtype=tf.float32)


def append(h, y):
    """`h` `[batch, ...features]` with the one-hot labels `y` `[batch, classes]` appended
    on the last axis, broadcast over any spatial axes of `h`."""
    y = tf.cast(y, h.dtype)
    for _ in range(len(h.shape) - 2):
        y = y[:, None]
    if len(h.shape) > 2:
        y = tf.broadcast_to(y, tf.concat([tf.shape(h)[:-1], tf.shape(y)[-1:]], 0))
    return tf.concat([h, y], axis=-1)


def draw(counts, n, seed):
    """`n` class ids drawn from the frequencies of `counts`, seeded by `seed` (a numpy
    seed: an int, a sequence of ints, or None)."""
    seed = None if seed is None else np.asarray(seed).ravel().tolist()
    return edge_labels.draw(counts, n, np.random.default_rng(seed))
