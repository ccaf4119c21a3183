"""Class labels of conditional models p(x | y): what users pass, and what networks take.

Users pass labels as integer class ids (a list, numpy array or tensor) or, for a model
that knows its classes' names, as those names. Inside, a label is a one-hot float32 row
`[batch, num_classes]`: every family appends it to a network input (see each family's
docs for where), which needs no embedding table and lets a zero row mean "no class".
"""

import numbers

import numpy as np
import tensorflow as tf


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
    """Labels as int32 class ids `[n]`, or a `ValueError`/`TypeError` naming `name`.

    Args:
      labels: ints, whole-valued floats or (with `class_names`) names; a list, numpy
        array or eager tensor, one per example. A single id or name is repeated `n` times.
      n: int. Number of examples the labels go with.
      num_classes: int. Ids must lie in [0, num_classes).
      class_names: optional tuple of str, to map names to ids.
      name: str. The argument name in error messages.

    Returns:
      numpy int32 array `[n]`.
    """
    if isinstance(labels, tf.Tensor):
        labels = labels.numpy()
    values = np.asarray(labels)
    if n is None:  # a batch of unknown size (traced): as many as given
        n = len(values) if values.ndim else 1
    if values.ndim == 0:
        values = np.full(n, values.item() if values.dtype.kind != "U" else str(values))
    if values.dtype.kind in "US":
        if class_names is None:
            raise TypeError(f"{name} must be integer class ids: this model has no class_names. "
                            f"Received: {name}={_short(labels)}")
        index = {c: i for i, c in enumerate(class_names)}
        unknown = [v for v in values.tolist() if v not in index]
        if unknown:
            raise ValueError(f"{name} must be class ids or one of the class names "
                             f"{list(class_names)}. Received: {name} with {unknown[0]!r}")
        values = np.array([index[v] for v in values.tolist()], np.int64)
    if values.dtype.kind not in "biuf" or values.dtype.kind == "b":
        raise TypeError(f"{name} must be integer class ids. Received: {name}={_short(labels)}")
    if values.ndim != 1 or len(values) != n:
        raise ValueError(f"{name} must hold one class id per example ({n}). "
                         f"Received: {name} of shape {list(values.shape)}")
    if values.dtype.kind == "f" and np.any(~np.isfinite(values) | (values != np.round(values))):
        raise ValueError(f"{name} must be integer class ids. Received: {name}={_short(labels)}")
    if n and (values.min() < 0 or values.max() >= num_classes):
        bad = values[(values < 0) | (values >= num_classes)][0]
        raise ValueError(f"{name} must be class ids in [0, {num_classes}) (num_classes="
                         f"{num_classes}). Received: {name} with {bad.item()!r}")
    return values.astype(np.int32)


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


def frequencies(counts):
    """Class frequencies from per-class counts `[classes]`; uniform before any count."""
    counts = np.asarray(counts, np.float64)
    total = counts.sum()
    return counts / total if total > 0 else np.full(len(counts), 1.0 / len(counts))


def draw(counts, n, seed):
    """`n` class ids drawn from the frequencies of `counts` with a seeded numpy generator."""
    rng = np.random.default_rng(None if seed is None else np.asarray(seed).ravel().tolist())
    return rng.choice(len(counts), size=n, p=frequencies(counts)).astype(np.int32)
