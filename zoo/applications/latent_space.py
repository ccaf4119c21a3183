"""Walking the latent space: interpolation between inputs and single-unit traversals.

Both decode latent codes (posterior means, `model.latent_code`) with `model.decode`
and return the decoder means, ready for `zoo.plotting.save_image_grid`.

Spherical interpolation (slerp) keeps the path at the norm a high-dimensional
standard-normal code typically has, where linear interpolation passes through the
low-norm middle that the prior rarely produces [1]:
  slerp(a, b; t) = sin((1 - t) w) / sin(w) * a + sin(t w) / sin(w) * b,
  w = arccos(<a, b> / (|a| |b|)), falling back to the linear path when w ~ 0.

References:
  [1] White. Sampling generative networks. arXiv:1609.04468, 2016.
"""

import numpy as np
import tensorflow as tf

from zoo import validation

METHODS = ("slerp", "linear")


def slerp(a, b, t):
    """Spherical interpolation between two flat codes.

    Args:
      a, b: array-like `[d]`. The codes at t = 0 and t = 1.
      t: array-like `[n]`. Fractions of the way from `a` to `b`.

    Returns:
      numpy float64 `[n, d]`; the linear path if `a` and `b` are (anti)parallel.
    """
    a, b, t = np.asarray(a, np.float64), np.asarray(b, np.float64), np.asarray(t, np.float64)[:, None]
    cos = np.dot(a, b) / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-12)
    omega = np.arccos(np.clip(cos, -1.0, 1.0))
    if np.sin(omega) < 1e-6:  # (anti)parallel codes: the great circle is undefined
        return (1 - t) * a + t * b
    return (np.sin((1 - t) * omega) * a + np.sin(t * omega) * b) / np.sin(omega)


def interpolate(model, x_a, x_b, steps=8, method="slerp", labels=None):
    """Decoder means along a path from the code of `x_a` to that of `x_b`.

    Args:
      model: a zoo model.
      x_a, x_b: single examples, shaped like one input (no batch axis).
      steps: int >= 2. Points on the path, ends included. Defaults to 8.
      method: str. "slerp" or "linear". Defaults to "slerp".
      labels: a conditional model's classes of `x_a` and `x_b` (two ids or names). The
        path's codes are decoded with the class of `x_a` up to the middle and that of
        `x_b` after it: same class, a walk through its styles; two classes, the style
        carried across.

    Returns:
      float32 tensor `[steps, *input_shape]`; the ends are the reconstructions of
        `x_a` and `x_b`.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {list(METHODS)}. Received: method={method!r}")
    steps = validation.positive_int("steps", steps)
    if steps < 2:
        raise ValueError(f"steps must be at least 2. Received: steps={steps}")
    ends = None if labels is None else list(np.asarray(labels).reshape(-1))
    codes = np.asarray(model.latent_code(np.stack([np.asarray(x_a), np.asarray(x_b)]), labels=ends))
    a, b = codes[0].reshape(-1), codes[1].reshape(-1)
    t = np.linspace(0.0, 1.0, steps)
    path = slerp(a, b, t) if method == "slerp" else (1 - t[:, None]) * a + t[:, None] * b
    path = path.reshape((steps, *codes.shape[1:])).astype(np.float32)
    path_labels = None if ends is None else [ends[0] if i < steps / 2 else ends[1] for i in range(steps)]
    return model.decode(tf.constant(path), labels=path_labels).mean()


def traverse(model, x, unit, values=(-3, -2, -1, 0, 1, 2, 3), label=None):
    """Decoder means with one latent unit of `x`'s code swept over `values`.

    Args:
      model: a zoo model.
      x: a single example, shaped like one input (no batch axis).
      unit: int. Index of the unit in the flattened code; the others stay at the
        posterior mean.
      values: 1-D finite numbers the unit is set to, in units of the prior's standard
        deviation for a N(0, I) prior. Defaults to -3..3.
      label: a conditional model's class of `x` (an id or a name).

    Returns:
      float32 tensor `[len(values), *input_shape]`.
    """
    code = np.asarray(model.latent_code(np.asarray(x)[None],
                                        labels=None if label is None else [label]))[0]
    shape, flat = code.shape, code.reshape(-1)
    if isinstance(unit, bool) or not isinstance(unit, (int, np.integer)) or not 0 <= unit < flat.size:
        raise ValueError(f"unit must be an integer in [0, {flat.size}). Received: unit={unit!r}")
    values = np.asarray(values, np.float32)
    if values.ndim != 1 or values.size == 0 or not np.all(np.isfinite(values)):
        raise ValueError(f"values must be a non-empty 1-D list of finite numbers. "
                         f"Received: values={values.tolist()!r}")
    codes = np.repeat(flat[None], len(values), axis=0)
    codes[:, unit] = values
    return model.decode(tf.constant(codes.reshape((len(values), *shape))),
                        labels=None if label is None else [label] * len(values)).mean()
