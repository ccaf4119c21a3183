"""Observation models p(x | z): Keras layers that turn decoder outputs into distributions.

A likelihood owns the last step of a decoder. The decoder network emits
`num_params` numbers per data dimension, shape `[batch, *event_shape, num_params]`; the
likelihood turns them into a `tfd.Independent` distribution whose event shape is the
data shape, so `log_prob(x)` is one number per example, in nats.

Distributions are built in float32 even under a mixed-precision policy: log-densities
summed over hundreds of pixels lose too much in float16.
"""

import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from zoo import validation
from zoo import distributions

tfd = tfp.distributions


class Likelihood(keras.layers.Layer):
    """Base class: maps decoder parameters to a distribution over one example.

    Subclasses set `num_params` and `support` and implement `_base_distribution`.
    """

    #: Numbers the decoder must emit per data dimension.
    num_params = 1
    #: Allowed data values: "real" or "unit_interval" (see `zoo.validation`).
    support = "real"

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.event_shape = None

    def build(self, event_shape):
        self.event_shape = tuple(event_shape)

    def encoder_input_shape(self, event_shape):
        """Shape of one example as the encoder sees it (see `encoder_input`)."""
        return tuple(event_shape)

    def encoder_input(self, x):
        """What the encoder sees of a batch `x`: `x` itself, except for `Tabular`."""
        return x

    def check_values(self, name, values):
        """Raises a `ValueError` naming `name` if numpy `values` are outside the support
        beyond what `support` says (e.g. categorical codes). Nothing to check by default."""

    def distribution(self, params):
        """Returns p(x | params): a distribution with batch `[batch]`, event `event_shape`."""
        params = tf.cast(params, tf.float32)
        base = self._base_distribution(params)
        return tfd.Independent(base, reinterpreted_batch_ndims=len(self.event_shape))

    def _base_distribution(self, params):
        raise NotImplementedError


@keras.saving.register_keras_serializable(package="vaezoo")
class Bernoulli(Likelihood):
    """Bernoulli pixels for binary (or [0, 1] grey-level) data; the decoder emits logits.

    Grey levels in (0, 1) are scored with the same cross-entropy formula, the usual
    relaxation for non-binarized images, but only binary data gives a normalized
    likelihood comparable with published NLL figures.
    """

    num_params = 1
    support = "unit_interval"

    def _base_distribution(self, params):
        return tfd.Bernoulli(logits=params[..., 0], dtype=tf.float32)


@keras.saving.register_keras_serializable(package="vaezoo")
class Gaussian(Likelihood):
    """Gaussian observations with a learned scale, for continuous and tabular data.

    Args:
      scale: str. `"shared"`: one learned scale per data dimension, shared by all
        examples (homoscedastic). `"predicted"`: the decoder emits a scale for every
        dimension of every example (heteroscedastic). Defaults to `"shared"`.
      min_scale: float. Floor on the scale, which keeps the density bounded when the
        data has (near-)constant dimensions. Defaults to 1e-3.
    """

    support = "real"

    def __init__(self, scale="shared", min_scale=1e-3, **kwargs):
        super().__init__(**kwargs)
        self.scale = validation.one_of("scale", scale, ("shared", "predicted"))
        self.min_scale = validation.positive_float("min_scale", min_scale)
        self.num_params = 2 if self.scale == "predicted" else 1

    def build(self, event_shape):
        super().build(event_shape)
        # Deserialization builds the layer from its build config before the model builds
        # it again: the weight must be made once.
        if self.scale == "shared" and not self.built:
            # softplus(0.5413) = 1: start from unit scale.
            self.raw_scale = self.add_weight(
                name="raw_scale", shape=self.event_shape,
                initializer=keras.initializers.Constant(0.5413), dtype="float32",
            )

    def _scale(self, raw):
        return tf.math.softplus(raw) + self.min_scale

    def _base_distribution(self, params):
        if self.scale == "predicted":
            scale = self._scale(params[..., 1])
        else:
            scale = tf.broadcast_to(self._scale(tf.cast(self.raw_scale, tf.float32)),
                                    tf.shape(params[..., 0]))
        return tfd.Normal(loc=params[..., 0], scale=scale)

    def get_config(self):
        return {**super().get_config(), "scale": self.scale, "min_scale": self.min_scale}


@keras.saving.register_keras_serializable(package="vaezoo")
class DiscretizedLogistic(Likelihood):
    """Discretized logistic over 8-bit intensities scaled to [0, 1] (PixelCNN++ style).

    The decoder emits a location and a raw log-scale per data dimension. See
    `zoo.distributions.DiscretizedLogistic` for the math.

    Args:
      num_bins: int. Intensity levels. Defaults to 256.
      min_log_scale: float. Floor on the log-scale, as in PixelCNN++. Defaults to -7.
    """

    num_params = 2
    support = "unit_interval"

    def __init__(self, num_bins=256, min_log_scale=-7.0, **kwargs):
        super().__init__(**kwargs)
        self.num_bins = validation.positive_int("num_bins", num_bins)
        if self.num_bins < 2:
            raise ValueError(f"num_bins must be >= 2. Received: num_bins={num_bins}")
        self.min_log_scale = float(min_log_scale)

    def _base_distribution(self, params):
        # The location is unconstrained: edge bins absorb the tails, so a loc beyond
        # [0, 1] is how the model puts almost all mass on pure black or white.
        log_scale = tf.maximum(params[..., 1], self.min_log_scale)
        return distributions.DiscretizedLogistic(
            loc=params[..., 0], scale=tf.exp(log_scale), num_bins=self.num_bins
        )

    def get_config(self):
        return {**super().get_config(), "num_bins": self.num_bins,
                "min_log_scale": self.min_log_scale}


@keras.saving.register_keras_serializable(package="vaezoo")
class Tabular(Likelihood):
    """Rows of tabular data: Gaussian continuous columns and categorical columns, with the
    standardisation stored in the model.

    Data are vectors `[batch, D]` in their own units; a categorical column holds integer
    codes 0 .. K-1. The column means and standard deviations are part of the layer's
    config, so a saved model (`.keras`, preset, export) scores and samples raw rows with no
    preprocessing outside it. Build one from training data with `Tabular.from_data`.

    - Continuous column: Gaussian in standardised units with a learned scale per column;
      its log-density is reported in the data's units (see
      `zoo.distributions.MixedTabular` for the change of variables).
    - Categorical column with K classes: a categorical over the first K of the decoder's
      `num_params` outputs; `mean()` is the most probable code.
    - The encoder sees standardised continuous columns followed by one-hot categories,
      so a code's numeric value never acts as a magnitude.

    Args:
      mean: sequence of D floats. Column means (ignored for categorical columns).
      std: sequence of D positive floats. Column standard deviations.
      categorical: dict `{column: num_categories}` (or `[[column, K], ...]`), K >= 2.
        Defaults to none: all columns continuous, i.e. a standardised Gaussian.
      min_scale: float. Floor on the standardised scale. Defaults to 1e-3.
    """

    support = "real"

    def __init__(self, mean, std, categorical=None, min_scale=1e-3, **kwargs):
        super().__init__(**kwargs)
        self.mean = [float(m) for m in validation.finite_vector("mean", mean)]
        self.std = [float(s) for s in validation.finite_vector("std", std)]
        if len(self.std) != len(self.mean):
            raise ValueError(f"std must have one entry per column ({len(self.mean)}). "
                             f"Received: std with {len(self.std)} entries")
        if min(self.std) <= 0:
            raise ValueError(f"std must be positive. Received: std={self.std}")
        self.categorical = _categorical_columns(categorical, len(self.mean))
        self.min_scale = validation.positive_float("min_scale", min_scale)
        self.num_categories = [self.categorical.get(j, 0) for j in range(len(self.mean))]
        self.num_params = max([1, *self.num_categories])
        self._continuous = [j for j, k in enumerate(self.num_categories) if k == 0]

    @classmethod
    def from_data(cls, x, categorical=None, **kwargs):
        """A `Tabular` likelihood standardised with the column statistics of `x` `[n, D]`."""
        x = np.asarray(validation.check_data("x", x, (None,)))
        if x.shape[0] < 2:
            raise ValueError(f"x needs at least 2 rows to estimate a spread. Received: x.shape={list(x.shape)}")
        std = x.std(axis=0)
        # A constant column keeps unit spread: dividing by ~0 would blow its density up.
        std = np.where(std > 1e-8, std, 1.0)
        layer = cls(x.mean(axis=0), std, categorical=categorical, **kwargs)
        layer.check_values("x", x)
        return layer

    def build(self, event_shape):
        if tuple(event_shape) != (len(self.mean),):
            raise ValueError(
                f"Tabular likelihood was made for rows of {len(self.mean)} columns. "
                f"Received: input_shape={tuple(event_shape)}")
        super().build(event_shape)
        if self.built:  # built already from its build config when deserialized
            return
        # softplus(0.5413) = 1: start from unit standardised scale.
        self.raw_scale = self.add_weight(name="raw_scale", shape=self.event_shape,
                                         initializer=keras.initializers.Constant(0.5413),
                                         dtype="float32")

    def encoder_input_shape(self, event_shape):
        return (len(self._continuous) + sum(self.num_categories),)

    def encoder_input(self, x):
        x = tf.cast(x, tf.float32)
        parts = []
        if self._continuous:
            idx = self._continuous
            mean = tf.constant([self.mean[j] for j in idx], tf.float32)
            std = tf.constant([self.std[j] for j in idx], tf.float32)
            parts.append((tf.gather(x, idx, axis=-1) - mean) / std)
        for j, k in sorted(self.categorical.items()):
            code = tf.cast(tf.clip_by_value(tf.round(x[..., j]), 0.0, k - 1.0), tf.int32)
            parts.append(tf.one_hot(code, k, dtype=tf.float32))
        return tf.concat(parts, axis=-1)

    def check_values(self, name, values):
        for j, k in sorted(self.categorical.items()):
            column = values[..., j]
            bad = (column != np.round(column)) | (column < 0) | (column > k - 1)
            if np.any(bad):
                raise ValueError(
                    f"{name}[:, {j}] is categorical with {k} classes and must hold integer "
                    f"codes 0..{k - 1}. Received: value {column[bad].flat[0]:g}")

    def distribution(self, params):
        params = tf.cast(params, tf.float32)
        scale = tf.broadcast_to(tf.math.softplus(tf.cast(self.raw_scale, tf.float32)) + self.min_scale,
                                tf.shape(params[..., 0]))
        base = distributions.MixedTabular(
            loc=params[..., 0], scale=scale, logits=params, mean=self.mean, std=self.std,
            num_categories=self.num_categories)
        return tfd.Independent(base, reinterpreted_batch_ndims=1)

    def get_config(self):
        return {**super().get_config(), "mean": self.mean, "std": self.std,
                "categorical": [[j, k] for j, k in sorted(self.categorical.items())],
                "min_scale": self.min_scale}


def _categorical_columns(categorical, num_columns):
    """`{column: K}` from a dict or `[[column, K], ...]`, checked against `num_columns`."""
    if categorical is None:
        return {}
    try:
        pairs = categorical.items() if isinstance(categorical, dict) else [tuple(p) for p in categorical]
        columns = {int(j): int(k) for j, k in pairs}
    except (TypeError, ValueError) as err:
        raise TypeError("categorical must be a dict {column: num_categories}. "
                        f"Received: categorical={categorical!r}") from err
    for j, k in columns.items():
        if not 0 <= j < num_columns or k < 2:
            raise ValueError(
                f"categorical needs columns in [0, {num_columns}) with at least 2 classes each. "
                f"Received: categorical={categorical!r}")
    return columns


_BY_NAME = {
    "bernoulli": Bernoulli,
    "gaussian": Gaussian,
    "discretized_logistic": DiscretizedLogistic,
}


def get(identifier):
    """Returns a likelihood layer from a name (`"bernoulli"`, ...), a config dict or a layer."""
    if isinstance(identifier, Likelihood):
        return identifier
    if isinstance(identifier, str):
        return _BY_NAME[validation.one_of("likelihood", identifier, tuple(_BY_NAME))]()
    if isinstance(identifier, dict):
        layer = keras.saving.deserialize_keras_object(identifier)
        if isinstance(layer, Likelihood):
            return layer
    raise ValueError(
        f"likelihood must be one of {sorted(_BY_NAME)} or a zoo.likelihoods.Likelihood. "
        f"Received: likelihood={identifier!r}"
    )
