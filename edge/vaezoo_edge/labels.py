"""Class labels of conditional samplers, checked with numpy only.

The one place the zoo's models (`zoo.labels`) and `EdgeSampler` check the labels users
pass, so both accept and refuse the same values with the same messages.
"""

import numpy as np


def _short(value, limit=80):
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def check_labels(labels, n, num_classes, class_names=None, name="labels"):
    """Labels as int32 class ids `[n]`, or a `ValueError`/`TypeError` naming `name`.

    Args:
      labels: ints, whole-valued floats or (with `class_names`) names; a list or numpy
        array, one per example. A single id or name is repeated `n` times.
      n: int or None. Number of examples the labels go with (None: as many as given).
      num_classes: int. Ids must lie in [0, num_classes).
      class_names: optional sequence of str, to map names to ids.
      name: str. The argument name in error messages.

    Returns:
      numpy int32 array `[n]`.
    """
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


def frequencies(counts):
    """Class frequencies from per-class counts `[classes]`; uniform before any count."""
    counts = np.asarray(counts, np.float64)
    total = counts.sum()
    return counts / total if total > 0 else np.full(len(counts), 1.0 / len(counts))


def draw(counts, n, rng):
    """`n` class ids drawn from the frequencies of `counts` with the numpy generator `rng`
    (or a seed for one)."""
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    return rng.choice(len(counts), size=n, p=frequencies(counts)).astype(np.int32)
