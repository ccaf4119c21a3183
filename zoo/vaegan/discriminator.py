"""The VAE-GAN discriminator: a real/fake logit and the features of one hidden layer."""

import keras
import tensorflow as tf

from zoo import networks, validation


@keras.saving.register_keras_serializable(package="vaezoo")
class Discriminator(keras.layers.Layer):
    """Conv (stride-2 stages) or MLP discriminator returning `(logits [batch], features)`.

    `features` are the activations of hidden layer `feature_layer`, the space in which
    VAE-GAN measures reconstruction error.

    Args:
      network: str. "conv" or "mlp". Defaults to "conv".
      hidden_dims: list of ints. Channels (conv) or widths (MLP) of the hidden layers.
        Defaults to (32, 64, 128).
      feature_layer: int. Index into `hidden_dims` of the feature layer; negative counts
        from the end. Defaults to -1 (the last hidden layer).
      spectral_norm: bool. Wrap every weight layer in `keras.layers.SpectralNormalization`,
        which bounds the discriminator's Lipschitz constant (a GAN stabiliser [1]).
        Defaults to False.
      activation: str. Defaults to "leaky_relu".
      num_classes: int or None. A class-conditional discriminator D(x, y): the projection
        discriminator of [2], logit = head(h) + <V y, h> over the last hidden layer's
        flattened features h, with V a learned embedding of the one-hot label y. It
        judges whether x is a real example *of class y* at the cost of one matrix, where
        concatenating y to the input would dilute it among the pixels. Defaults to None.

    References:
      [1] Miyato et al. Spectral normalization for generative adversarial networks.
          ICLR 2018.
      [2] Miyato, Koyama. cGANs with projection discriminator. ICLR 2018.
    """

    def __init__(self, network="conv", hidden_dims=(32, 64, 128), feature_layer=-1,
                 spectral_norm=False, activation="leaky_relu", num_classes=None, **kwargs):
        super().__init__(**kwargs)
        self.num_classes = num_classes
        self.network = validation.one_of("network", network, networks.NETWORKS)
        self.hidden_dims = networks._check_dims("hidden_dims", hidden_dims)
        if not isinstance(feature_layer, int) or not -len(self.hidden_dims) <= feature_layer < len(self.hidden_dims):
            raise ValueError(f"feature_layer must index hidden_dims (length {len(self.hidden_dims)}). "
                             f"Received: feature_layer={feature_layer!r}")
        self.feature_layer = feature_layer % len(self.hidden_dims)
        self.spectral_norm = bool(spectral_norm)
        self.activation = activation
        self._act = keras.activations.get(activation)

        def wrap(layer):
            # The wrapper writes the normalised kernel back into the float32 weight on
            # every training call: in float32, whatever the policy. Computed under a mixed
            # policy it would round the weight to bfloat16 / float16 each step and lose
            # the optimizer's small updates; the wrapped layer still computes in it.
            return keras.layers.SpectralNormalization(layer, dtype="float32",
                                                      name=f"sn_{layer.name}") \
                if self.spectral_norm else layer

        if self.network == "conv":
            self.hidden = [wrap(keras.layers.Conv2D(d, 4, strides=2, padding="same", name=f"conv_{i}"))
                           for i, d in enumerate(self.hidden_dims)]
        else:
            self.hidden = [wrap(keras.layers.Dense(d, name=f"dense_{i}"))
                           for i, d in enumerate(self.hidden_dims)]
        self.flatten = keras.layers.Flatten(name="flatten")
        self.head = wrap(keras.layers.Dense(1, name="logit"))
        # <V y, h> = <y, V^T h>: a class-wise linear read-out of h, picked by y.
        self.projection = (wrap(keras.layers.Dense(num_classes, use_bias=False,
                                                   name="class_projection"))
                           if num_classes else None)

    def build(self, input_shape):
        """Builds every layer for inputs `[batch, *data_shape]`."""
        shape = tuple(input_shape)
        if self.network == "mlp":
            shape = (shape[0], int(tf.reduce_prod(shape[1:])))
        for layer in self.hidden:
            layer.build(shape)
            shape = layer.compute_output_shape(shape)
        self.head.build((shape[0], int(tf.reduce_prod(shape[1:]))))
        if self.projection is not None:
            self.projection.build((shape[0], int(tf.reduce_prod(shape[1:]))))

    def call(self, x, y=None, training=False):
        """Real/fake logits and hidden features of a batch.

        Args:
          x: float tensor `[batch, *data_shape]`.
          y: one-hot labels `[batch, num_classes]` of a conditional discriminator.
          training: bool. Passed to the spectral normalization wrappers.

        Returns:
          A tuple (float32 logits `[batch]`, float32 features of `feature_layer`:
            `[batch, h, w, channels]` for conv, `[batch, width]` for MLP).
        """
        h = x if self.network == "conv" else self.flatten(x)
        features = None
        for i, layer in enumerate(self.hidden):
            h = self._act(layer(h, training=training) if self.spectral_norm else layer(h))
            if i == self.feature_layer:
                features = h
        flat = self.flatten(h)
        logits = self.head(flat, training=training) if self.spectral_norm else self.head(flat)
        if self.projection is not None:
            read_out = (self.projection(flat, training=training) if self.spectral_norm
                        else self.projection(flat))
            logits = logits + tf.reduce_sum(read_out * tf.cast(y, read_out.dtype), axis=-1,
                                            keepdims=True)
        return tf.cast(logits[:, 0], tf.float32), tf.cast(features, tf.float32)

    def get_config(self):
        """The constructor arguments, for saving."""
        return {**super().get_config(), "network": self.network, "hidden_dims": self.hidden_dims,
                "feature_layer": self.feature_layer, "spectral_norm": self.spectral_norm,
                "activation": self.activation, "num_classes": self.num_classes}
