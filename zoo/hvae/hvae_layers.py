"""Building blocks of the hierarchical VAE: the learned top state and Gaussian heads."""

import keras
import tensorflow as tf

from zoo import validation


def soft_clamp(x, bound):
    """`bound * tanh(x / bound)`: the identity near 0, smoothly kept inside (-bound, bound).

    Used on means and log-scales so that no layer can push a Gaussian to an extreme
    scale in one step, a common cause of NaNs in deep hierarchies [1].

    Args:
      x: float tensor.
      bound: float > 0, or None to return `x` unchanged.

    Returns:
      float tensor shaped like `x`.

    References:
      [1] Vahdat, Kautz. NVAE: A deep hierarchical variational autoencoder. NeurIPS 2020.
    """
    if bound is None:
        return x
    return bound * tf.tanh(x / bound)


@keras.saving.register_keras_serializable(package="vaezoo")
class LearnedState(keras.layers.Layer):
    """A learned tensor, broadcast over the batch: where the top-down path starts.

    Args:
      state_shape: tuple of ints. Shape of the state without the batch axis.
    """

    def __init__(self, state_shape, **kwargs):
        super().__init__(**kwargs)
        self.state_shape = validation.shape_tuple("state_shape", state_shape)

    def build(self, input_shape=None):
        """Creates the state variable, `state_shape`, initialised at zero."""
        self.state = self.add_weight(name="state", shape=self.state_shape, initializer="zeros")

    def call(self, reference):
        """The state for a batch as large as `reference`'s first axis.

        Args:
          reference: any tensor with a batch axis first; only its size is used.

        Returns:
          tensor `[batch, *state_shape]` of the layer's compute dtype.
        """
        batch = tf.shape(reference)[0]
        return tf.broadcast_to(tf.cast(self.state, self.compute_dtype),
                               tf.concat([[batch], self.state_shape], axis=0))

    def get_config(self):
        """The constructor arguments, for saving."""
        return {**super().get_config(), "state_shape": self.state_shape}


@keras.saving.register_keras_serializable(package="vaezoo")
class GaussianHead(keras.layers.Layer):
    """Two layers from features to the (mean, log-scale) pair of a diagonal Gaussian.

    Conv: 3x3 conv with `hidden` channels and the activation, then a 1x1 conv to
    2 * `channels`. MLP: the same with dense layers.

    Args:
      channels: int. Latent channels (conv) or units (MLP) of the Gaussian.
      hidden: int. Width of the hidden layer.
      network: str. "conv" or "mlp".
      activation: str. Keras activation. Defaults to "swish".
      zero_init: bool. Start the output layer at zero, so the head starts at
        mean 0, log-scale 0 (a residual posterior then starts equal to the prior).
    """

    def __init__(self, channels, hidden, network, activation="swish", zero_init=False, **kwargs):
        super().__init__(**kwargs)
        self.channels = validation.positive_int("channels", channels)
        self.hidden = validation.positive_int("hidden", hidden)
        self.network = validation.one_of("network", network, ("conv", "mlp"))
        self.activation = activation
        self.zero_init = bool(zero_init)
        init = "zeros" if self.zero_init else "glorot_uniform"
        if self.network == "conv":
            self.hidden_layer = keras.layers.Conv2D(hidden, 3, padding="same", activation=activation,
                                                    name="hidden")
            self.output_layer = keras.layers.Conv2D(2 * channels, 1, kernel_initializer=init,
                                                    name="output")
        else:
            self.hidden_layer = keras.layers.Dense(hidden, activation=activation, name="hidden")
            self.output_layer = keras.layers.Dense(2 * channels, kernel_initializer=init,
                                                   name="output")

    def call(self, x):
        """`(mean, log_scale)` of the Gaussian, each float32 `[..., channels]`.

        Args:
          x: features `[batch, height, width, c]` (conv) or `[batch, d]` (MLP).
        """
        params = tf.cast(self.output_layer(self.hidden_layer(x)), tf.float32)
        mean, log_scale = tf.split(params, 2, axis=-1)
        return mean, log_scale

    def get_config(self):
        """The constructor arguments, for saving."""
        return {**super().get_config(), "channels": self.channels, "hidden": self.hidden,
                "network": self.network, "activation": self.activation,
                "zero_init": self.zero_init}
