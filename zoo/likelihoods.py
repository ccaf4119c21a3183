"""Observation models p(x | z): Keras layers that turn decoder outputs into distributions.

A likelihood owns the last step of a decoder. The decoder network emits
`num_params` numbers per data dimension, shape `[batch, *event_shape, num_params]`; the
likelihood turns them into a `tfd.Independent` distribution whose event shape is the
data shape, so `log_prob(x)` is one number per example, in nats.

Distributions are built in float32 even under a mixed-precision policy: log-densities
summed over hundreds of pixels lose too much in float16.
"""

import keras
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
        if self.scale == "shared":
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
