"""Argument and input checks shared by the public API.

Every check raises `ValueError` or `TypeError` whose message names the argument and
the value received, so a user sees what they passed instead of an error from deep
inside a TensorFlow kernel. Value checks (NaN, range) need concrete data and run only
eagerly; inside a traced function they are skipped and the shape checks remain.
"""

import numbers

import numpy as np
import tensorflow as tf

# Data supports understood by `check_data`.
SUPPORTS = ("real", "unit_interval")


def _short(value, limit=80):
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def positive_int(name, value):
    """Returns `value` as an int, or raises if it is not an integer > 0."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be a positive integer. Received: {name}={_short(value)}")
    if value <= 0:
        raise ValueError(f"{name} must be positive. Received: {name}={value}")
    return int(value)


def non_negative_int(name, value):
    """Returns `value` as an int, or raises if it is not an integer >= 0."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(
            f"{name} must be a non-negative integer. Received: {name}={_short(value)}"
        )
    if value < 0:
        raise ValueError(f"{name} must be >= 0. Received: {name}={value}")
    return int(value)


def non_negative_float(name, value):
    """Returns `value` as a float, or raises if it is not a finite number >= 0."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number. Received: {name}={_short(value)}")
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be finite and >= 0. Received: {name}={value}")
    return float(value)


def positive_float(name, value):
    """Returns `value` as a float, or raises if it is not a finite number > 0."""
    value = non_negative_float(name, value)
    if value == 0:
        raise ValueError(f"{name} must be > 0. Received: {name}={value}")
    return value


def boolean(name, value):
    """`value` as a bool, or a `TypeError` naming `name` (0 / 1 and strings are refused:
    "False" would be truthy)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False. Received: {name}={_short(value)}")
    return bool(value)


def one_of(name, value, options):
    """Returns `value`, lower-cased, if it is one of `options` (compared case-insensitively).

    Args:
      name: str. The argument name used in error messages.
      value: the value received; must be a str.
      options: the allowed lower-case strings (a tuple, or a dict's keys).

    Raises:
      ValueError: `value` is not one of `options`.
    """
    if isinstance(value, str) and value.lower() in options:
        return value.lower()
    raise ValueError(f"{name} must be one of {sorted(options)}. Received: {name}={_short(value)}")


def shape_tuple(name, value):
    """Returns `value` as a tuple of positive ints (a data shape without batch axis)."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        value = (value,)
    if not isinstance(value, (tuple, list)) or not value:
        raise TypeError(
            f"{name} must be a non-empty tuple of positive integers. Received: {name}={_short(value)}"
        )
    for dim in value:
        if isinstance(dim, bool) or not isinstance(dim, numbers.Integral) or dim <= 0:
            raise ValueError(
                f"{name} must contain positive integers only. Received: {name}={_short(value)}"
            )
    return tuple(int(d) for d in value)


def scale_pixels(x):
    """8-bit images (uint8 arrays or tensors) as float32 in [0, 1]; anything else as is.

    The one rule for integer data across the zoo (`zoo.data.from_arrays`, `fit`, every
    model method): uint8 means pixels in [0, 255].

    Returns:
      float32 tensor shaped like `x` for uint8 input; otherwise `x` itself.
    """
    dtype = x.dtype if isinstance(x, (np.ndarray, tf.Tensor)) else None
    if dtype is not None and (dtype == np.uint8 or dtype == tf.uint8):
        return tf.cast(x, tf.float32) / 255.0
    return x


def to_float_tensor(name, x):
    """`x` as a float32 tensor, or a `TypeError` naming `name` for non-numeric input
    (strings, objects, ragged lists). Shape and values are not checked.

    Returns:
      float32 tensor shaped like `x`.
    """
    if isinstance(x, (str, bytes)):
        raise TypeError(f"{name} must be a numeric array. Received: {name}={_short(x)}")
    if isinstance(x, tf.Tensor | tf.Variable):
        dtype = x.dtype
    else:
        try:
            x = np.asarray(x)
        except (ValueError, TypeError) as err:  # ragged nested lists, objects
            raise TypeError(f"{name} must be a numeric array. Received: {name}={_short(x)}") from err
        if x.dtype == object or x.dtype.kind in "USV":
            raise TypeError(
                f"{name} must be a numeric array. Received: {name} with dtype {x.dtype}"
            )
        dtype = tf.as_dtype(x.dtype)
    if not (dtype.is_floating or dtype.is_integer or dtype == tf.bool):
        raise TypeError(f"{name} must be numeric. Received: {name} with dtype {dtype.name}")
    return tf.cast(x, tf.float32)


def finite_vector(name, value):
    """A non-empty 1-D float64 numpy array of finite values, or a clear error."""
    array = np.asarray(to_float_tensor(name, value), np.float64)
    if array.ndim != 1 or array.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D sequence. Received: {name}.shape={list(array.shape)}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be finite. Received: {name}={_short(array.tolist())}")
    return array


def check_data(name, x, event_shape, support="real", allow_missing=False):
    """Converts `x` to a float32 tensor of shape `[batch, *event_shape]`, or raises.

    Args:
      name: str. The argument name used in error messages.
      x: array-like. A batch of data.
      event_shape: tuple of ints. The shape of one example.
      support: str. `"real"` (any finite value) or `"unit_interval"` ([0, 1]).
      allow_missing: bool. NaN marks a missing entry (tabular models) instead of an
        error; infinities are still refused.

    Returns:
      float32 tensor `[batch, *event_shape]`.

    Raises:
      TypeError: non-numeric input.
      ValueError: wrong shape, an empty batch, or (eagerly) values that are not finite
        or outside the support.
    """
    x = to_float_tensor(name, x)
    expected = (None, *event_shape)
    shape = tuple(x.shape)
    if len(shape) != len(expected) or any(
        e is not None and s is not None and s != e for s, e in zip(shape, expected)
    ):
        hint = ""
        if tuple(shape) == tuple(event_shape):
            hint = f" Add a batch axis, e.g. {name}[None]."
        raise ValueError(
            f"{name} must have shape [batch, {', '.join(map(str, event_shape))}]. "
            f"Received: {name}.shape={list(shape)}.{hint}"
        )
    if shape[0] == 0:
        raise ValueError(f"{name} must contain at least one example. Received: {name}.shape={list(shape)}")
    if tf.executing_eagerly():
        values = x.numpy()
        if allow_missing:
            if np.any(np.isinf(values)):
                raise ValueError(f"{name} must be finite or NaN (missing). Received: {name} "
                                 f"with {int(np.isinf(values).sum())} inf values")
        elif not np.all(np.isfinite(values)):
            bad = int(np.size(values) - np.count_nonzero(np.isfinite(values)))
            raise ValueError(f"{name} must be finite. Received: {name} with {bad} NaN/inf values. "
                             "Missing entries are taken by tabular models (zoo.likelihoods."
                             "Tabular) and by impute(x, mask)")
        if support == "unit_interval":
            lo, hi = float(values.min()), float(values.max())
            if lo < 0.0 or hi > 1.0:
                raise ValueError(
                    f"{name} must lie in [0, 1] for this likelihood. "
                    f"Received: {name} with values in [{lo:g}, {hi:g}]"
                )
    return x


def check_vectors(name, x, dim):
    """Converts `x` to a float32 tensor of shape `[batch, dim]` with finite values, or raises.

    Args:
      name: str. The argument name used in error messages.
      x: array-like `[batch, dim]`.
      dim: int. The vector size.

    Returns:
      float32 tensor `[batch, dim]`.
    """
    return check_data(name, x, (dim,), support="real")


def check_mask(name, mask, shape):
    """A 0/1 (or boolean) observation mask, or raises naming the argument and what was
    received.

    Args:
      name: str. The argument name used in error messages.
      mask: array-like or tensor of 0/1 or booleans; 1 (True) means observed.
      shape: tuple of int or None, the expected shape (`None` = any size).

    Returns:
      numpy bool array of `mask`'s shape.
    """
    if isinstance(mask, (str, bytes)) or mask is None:
        raise TypeError(f"{name} must be an array of 0/1 or booleans. Received: {name}={mask!r}")
    values = np.asarray(mask.numpy() if isinstance(mask, tf.Tensor) else mask)
    if values.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be an array of 0/1 or booleans. Received: dtype {values.dtype}")
    if values.ndim != len(shape) or any(e is not None and s != e for s, e in zip(values.shape, shape)):
        expected = ", ".join("batch" if e is None else str(e) for e in shape)
        raise ValueError(f"{name} must have shape [{expected}]. Received: {name}.shape={list(values.shape)}")
    if values.dtype.kind != "b" and not np.all((values == 0) | (values == 1)):
        raise ValueError(f"{name} must hold only 0 (missing) and 1 (observed). Received: values "
                         f"{np.unique(values[(values != 0) & (values != 1)])[:5].tolist()}")
    return values.astype(bool)


def seed_tensor(seed):
    """A stateless seed `[2] int32` from an int, a seed tensor, or None (fresh entropy).

    Integers are mapped directly: `tfp.random.sanitize_seed(int)` goes through a stateful
    op, so the same integer would give a different seed on every eager call.

    Returns:
      int32 tensor `[2]`, for the `tf.random.stateless_*` ops.

    Raises:
      TypeError: `seed` is not an int, a tensor or None.
      ValueError: `seed` is a negative int.
    """
    import tensorflow_probability as tfp

    if seed is None or isinstance(seed, tf.Tensor):
        return tfp.random.sanitize_seed(seed)
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"seed must be a non-negative int or None. Received: seed={seed!r}")
    if seed < 0:
        raise ValueError(f"seed must be a non-negative int or None. Received: seed={seed!r}")
    seed = int(seed)
    return tf.constant([seed % 2**31, (seed >> 31) % 2**31], dtype=tf.int32)


def check_training_data(name, data, event_shape, check_array):
    """Checks a `fit`/`evaluate` input before Keras sees it.

    A `tf.data.Dataset` must yield numeric batches `[batch, *event_shape]` (or tuples
    whose first element is) and must not be empty; an array goes through `check_array`
    (`check_array(name, data)`). Generators, tuples and dicts are left to Keras.

    Args:
      name: str. The argument name used in error messages.
      data: what `fit` / `evaluate` received.
      event_shape: tuple of ints. The shape of one example.
      check_array: callable `(name, data)` that raises on a bad array (the model's
        `check_input`).

    Raises:
      TypeError: a dataset of non-numeric or non-tensor elements.
      ValueError: a dataset of the wrong element shape, or an empty one.
    """
    if isinstance(data, tf.data.Dataset):
        spec = data.element_spec
        x_spec = spec[0] if isinstance(spec, tuple) else spec
        if not isinstance(x_spec, tf.TensorSpec):
            raise TypeError(f"{name} must yield tensors or (x, y) tuples. Received element_spec={spec}")
        if not (x_spec.dtype.is_floating or x_spec.dtype.is_integer or x_spec.dtype == tf.bool):
            raise TypeError(f"{name} must yield numeric data. Received: dtype {x_spec.dtype.name}")
        shape = tuple(x_spec.shape)
        expected = (None, *event_shape)
        if len(shape) != len(expected) or any(
                s is not None and s != e for s, e in zip(shape[1:], expected[1:])):
            raise ValueError(
                f"{name} must yield batches of shape [batch, {', '.join(map(str, event_shape))}]. "
                f"Received: element shape {list(shape)}. Batch the dataset with "
                f"`.batch(n)` if it yields single examples.")
        if data.cardinality() == 0:
            raise ValueError(f"{name} is empty. Received: a dataset with 0 batches")
    elif data is not None and not isinstance(data, (tuple, list, dict)) \
            and not hasattr(data, "__next__"):
        check_array(name, data)
