"""The semi-supervised VAE's objective (M2 of Kingma et al. 2014), as small functions.

A conditional VAE p(x | y, z) p(z | y) p(y) with a classifier q(y | x) beside its encoder
q(z | x, y). Labelled examples train it on the conditional bound and the classifier on
their label; unlabelled ones (label -1) sum the bound over every class, weighted by the
classifier's belief, so the classifier also learns from the images that carry no label.
`zoo.VAE(..., num_classes=K, semi_supervised=True)` trains this way.

Math (per example, in nats, minimised):
  L(x, y) = -E_q(z|x,y)[log p(x|y,z)] + KL(q(z|x,y) || p(z|y)) - log p(y)   (labelled)
  U(x) = sum_y q(y|x) L(x, y) - H(q(y|x))                                   (unlabelled)
  loss = mean over the batch of L (labelled rows) or U (unlabelled rows)
         + alpha * mean over the labelled rows of -log q(y|x).
-L(x, y) bounds log p(x, y) and -U(x) bounds log p(x). p(y) is uniform, as in the paper.

References:
  [1] Kingma, Rezende, Mohamed, Welling. Semi-supervised learning with deep generative
      models. NeurIPS 2014.
"""

import math

import numpy as np
import tensorflow as tf

#: The label that marks an unlabelled example in `fit`'s `(x, y)` batches.
UNLABELLED = -1


def unlabelled_bound(per_class_loss, log_q_y):
    """U(x): the per-class losses averaged under q(y|x), minus its entropy, `[batch]`.

    Args:
      per_class_loss: float32 `[batch, num_classes]`, L(x, y) for every class y.
      log_q_y: float32 `[batch, num_classes]`, log q(y|x) (log-softmax of the classifier).

    Returns:
      float32 `[batch]`: sum_y q(y|x) (L(x, y) + log q(y|x)), nats.
    """
    q = tf.exp(log_q_y)
    return tf.reduce_sum(q * (per_class_loss + log_q_y), axis=-1)


def labelled_mask(ids):
    """float32 `[batch]`: 1 where an example carries a label (id >= 0), 0 where -1."""
    return tf.cast(ids >= 0, tf.float32)


def paper_alpha(num_examples, num_labelled):
    """The paper's alpha = 0.1 N in this objective's per-example units: 0.1 N / N_l.

    Kingma et al. weigh the labelled examples' mean classification loss by 0.1 N against
    the bound summed over the N training examples; per example, that is 0.1 N / N_l on
    the mean over the labelled ones (60 for 100 labels among 60,000 images).

    Args:
      num_examples: int, N, every training example.
      num_labelled: int, N_l, those with a label.

    Returns:
      float.
    """
    if num_labelled <= 0 or num_examples < num_labelled:
        raise ValueError("num_labelled must be in [1, num_examples]. Received: "
                         f"num_examples={num_examples!r}, num_labelled={num_labelled!r}")
    return 0.1 * num_examples / num_labelled


def log_uniform_prior(num_classes):
    """log p(y) of the uniform class prior: -log K."""
    return -math.log(num_classes)


def hide_labels(y, num_labelled, seed=0, num_classes=None):
    """`y` with all but `num_labelled` labels replaced by -1, the kept ones balanced.

    Draws `num_labelled / num_classes` examples of every class (a balanced draw, as the
    benchmarks of [1] use), so a semi-supervised model sees the rest as unlabelled.

    Args:
      y: integer class ids `[n]`.
      num_labelled: int, a multiple of the number of classes, at most n.
      seed: int. Seed of the draw. Defaults to 0.
      num_classes: int or None. Defaults to max(y) + 1.

    Returns:
      int64 numpy `[n]`: the kept ids, -1 elsewhere.

    Raises:
      ValueError: `num_labelled` not a positive multiple of the classes, or a class with
        fewer examples than its share.
    """
    y = np.asarray(y).reshape(-1).astype(np.int64)
    num_classes = int(y.max()) + 1 if num_classes is None else int(num_classes)
    if (isinstance(num_labelled, bool) or not isinstance(num_labelled, (int, np.integer))
            or num_labelled <= 0 or num_labelled % num_classes):
        raise ValueError(f"num_labelled must be a positive multiple of the {num_classes} "
                         f"classes (a balanced draw). Received: num_labelled={num_labelled!r}")
    rng = np.random.default_rng(seed)
    per_class = num_labelled // num_classes
    hidden = np.full_like(y, UNLABELLED)
    for c in range(num_classes):
        members = np.flatnonzero(y == c)
        if len(members) < per_class:
            raise ValueError(f"class {c} has {len(members)} examples, fewer than the "
                             f"{per_class} a balanced draw of num_labelled={num_labelled} needs")
        kept = rng.choice(members, per_class, replace=False)
        hidden[kept] = c
    return hidden


def mixed_batches(x, y, *, batch_size=100, labelled_per_batch=10, binarize=None, seed=0):
    """Batches for `fit` that each hold `labelled_per_batch` labelled examples.

    With 100 labels among 60,000 images, batches drawn at random hold a labelled example
    once in six; here each batch has `batch_size - labelled_per_batch` unlabelled
    examples (every one once per epoch, shuffled) and `labelled_per_batch` labelled ones,
    cycled through the labelled set in a reshuffled order. Labelled rows are then
    over-represented: set the model's `alpha` for it (the paper's is `paper_alpha(N, N_l)`).

    Args:
      x: images `[n, ...]` (uint8 pixels or floats in [0, 1]).
      y: int ids `[n]`, -1 where the example is unlabelled (`hide_labels`).
      batch_size: int. Rows per batch. Defaults to 100.
      labelled_per_batch: int, in [1, batch_size). Defaults to 10.
      binarize, seed: as in `zoo.data.from_arrays` (binarization is per row, so the two
        parts can be drawn separately).

    Returns:
      A `tf.data.Dataset` of `(x, y)` batches, one epoch over the unlabelled examples.

    Raises:
      ValueError: no labelled or no unlabelled example, or a bad `labelled_per_batch`.
    """
    from zoo import data

    y = np.asarray(y).reshape(-1).astype(np.int64)
    x = np.asarray(x)
    if len(y) != len(x):
        raise ValueError(f"y must have one label per row of x. Received: {len(y)} labels for "
                         f"{len(x)} rows")
    if (isinstance(labelled_per_batch, bool) or not isinstance(labelled_per_batch, (int, np.integer))
            or not 0 < labelled_per_batch < batch_size):
        raise ValueError(f"labelled_per_batch must be in [1, batch_size={batch_size}). "
                         f"Received: labelled_per_batch={labelled_per_batch!r}")
    kept = y >= 0
    if not kept.any() or kept.all():
        raise ValueError("y must mark some examples unlabelled (-1) and keep some labels. "
                         f"Received: {int(kept.sum())} labelled of {len(y)}")
    labelled = data.from_arrays(x[kept], y[kept], batch_size=labelled_per_batch,
                                binarize=binarize, shuffle=True, seed=seed,
                                drop_remainder=len(y[kept]) >= labelled_per_batch)
    unlabelled = data.from_arrays(x[~kept], batch_size=batch_size - labelled_per_batch,
                                  binarize=binarize, shuffle=True, seed=seed + 1)

    def join(u, lab):
        hidden = tf.fill([tf.shape(u)[0]], tf.constant(UNLABELLED, lab[1].dtype))
        return tf.concat([u, lab[0]], 0), tf.concat([hidden, lab[1]], 0)

    # repeat() reshuffles the labelled set on each pass.
    pairs = tf.data.Dataset.zip(unlabelled, labelled.repeat())
    return pairs.map(join, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)
