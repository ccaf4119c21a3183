"""The variational autoencoder (and beta-VAE)."""

import keras
import tensorflow as tf
import tensorflow_probability as tfp

from zoo import labels, networks, priors, validation
from zoo.model import LatentVariableModel

tfd = tfp.distributions


@keras.saving.register_keras_serializable(package="vaezoo")
class VAE(LatentVariableModel):
    """Variational autoencoder with a diagonal-Gaussian posterior and N(0, I) prior.

    q(z|x) = N(mu(x), diag(sigma(x)^2)) is amortised by an encoder network and a dense
    head; p(x|z) is the chosen likelihood over the decoder's output; p(z) = N(0, I). It is
    trained by maximising the ELBO [1, 2]; `beta` > 1 gives the beta-VAE [3].

    Conditional (`num_classes`): q(z|x, y), p(x|z, y) and a learned class prior
    p(z|y) = N(mu_y, diag(sigma_y^2)), the CVAE of [4]. The one-hot label is appended to
    the encoder's features (before the posterior head) and to z (the decoder's input).
    The encoder trunk stays label-free, so `features` and the anomaly scores built on
    them need no label, and the decoder's first layer turns the label into whatever its
    network needs (a dense projection to the first feature map in the conv decoder).

    Why a class prior: with M2's p(z) = N(0, I) [5] for every class, the encoder learns
    the class into z during the KL warm-up and keeps much of it, so a prior draw decoded
    with label 7 is often some other digit (measured: the classifier agreed with the
    asked-for class on 72 % of MNIST samples). With p(z|y), the codes drawn for class y
    lie where the training images of class y are encoded. It starts as N(0, I) and costs
    2 * latent_dim numbers a class; `class_prior=False` gives M2's prior.

    Math:
      ELBO(x) = E_{q(z|x)}[log p(x|z)] - KL(q(z|x) || p(z)), with the KL in closed form,
      sum_j [-log sigma_j + (sigma_j^2 + mu_j^2) / 2 - 1/2], and z = mu + sigma * eps.

    Args:
      input_shape: tuple of ints. Shape of one example, e.g. (28, 28, 1).
      latent_dim: int. Size of z. Defaults to 32.
      likelihood: str or `zoo.likelihoods.Likelihood`. Defaults to "bernoulli".
      network: str. "mlp" or "conv" (conv needs (height, width, channels) data).
        Defaults to "mlp".
      hidden_dims: list of ints. Encoder widths (MLP units, or conv filters per stride-2
        stage); the decoder mirrors them. Defaults to (512, 256) for "mlp", (32, 64) for
        "conv".
      activation: str. Keras activation of the hidden layers. Defaults to "relu".
      num_res_blocks: int. Residual blocks per conv stage. Defaults to 0.
      upsampling: str. How the conv decoder upsamples: "transpose" or "nearest" (resize,
        then convolve; faster in TFLite). See `zoo.networks.ConvDecoder`. Defaults to
        "nearest".
      encoder: optional `keras.layers.Layer` mapping `[batch, *input_shape]` to features;
        replaces the built-in one.
      decoder: optional `keras.layers.Layer` mapping `[batch, latent_dim]` (with
        `num_classes`, `[batch, latent_dim + num_classes]`: z and the one-hot label) to
        `[batch, *input_shape, likelihood.num_params]`; replaces the built-in one.
      min_posterior_scale: float. Floor on sigma(x). Defaults to 1e-4.
      class_prior: bool. A conditional model's learned prior p(z|y) (see above).
        Defaults to True when `num_classes` is set (models saved before it existed load
        with False, the prior they were trained with).
      **kwargs: `beta`, `kl_warmup_steps`, `free_bits`, `active_unit_threshold`, `seed`,
        see `zoo.LatentVariableModel`, and `keras.Model` arguments such as `name`.

    Example:

    ```python
    import numpy as np, zoo
    x = (np.random.rand(64, 28, 28, 1) > 0.5).astype("float32")
    model = zoo.VAE(input_shape=(28, 28, 1), latent_dim=8, hidden_dims=(64,))
    model.compile(optimizer="adam")
    model.fit(x, epochs=1, batch_size=32, verbose=0)
    images = model.sample(4, seed=0)  # [4, 28, 28, 1]
    ```

    References:
      [1] Kingma, Welling. Auto-encoding variational Bayes. ICLR 2014.
      [2] Rezende, Mohamed, Wierstra. Stochastic backpropagation and approximate
          inference in deep generative models. ICML 2014.
      [3] Higgins et al. beta-VAE. ICLR 2017.
      [4] Sohn, Lee, Yan. Learning structured output representation using deep
          conditional generative models. NeurIPS 2015.
      [5] Kingma, Rezende, Mohamed, Welling. Semi-supervised learning with deep
          generative models. NeurIPS 2014.
    """

    def __init__(self, input_shape, latent_dim=32, likelihood="bernoulli", network="mlp",
                 hidden_dims=None, activation="relu", num_res_blocks=0, upsampling="nearest",
                 encoder=None, decoder=None, min_posterior_scale=1e-4, class_prior=None,
                 **kwargs):
        super().__init__(input_shape=input_shape, likelihood=likelihood, **kwargs)
        self.latent_dim = validation.positive_int("latent_dim", latent_dim)
        self.network = validation.one_of("network", network, networks.NETWORKS)
        if self.network == "conv" and len(self.data_shape) != 3:
            raise ValueError(
                "network='conv' needs image data of shape (height, width, channels). "
                f"Received: input_shape={self.data_shape}"
            )
        self.hidden_dims = (networks.default_hidden_dims(self.network) if hidden_dims is None
                            else networks._check_dims("hidden_dims", hidden_dims))
        self.activation = activation
        keras.activations.get(activation)  # fails early on an unknown name
        self.num_res_blocks = validation.non_negative_int("num_res_blocks", num_res_blocks)
        self.upsampling = validation.one_of("upsampling", upsampling, ("transpose", "nearest"))
        self.min_posterior_scale = validation.positive_float(
            "min_posterior_scale", min_posterior_scale)
        self.custom_encoder = encoder is not None
        self.custom_decoder = decoder is not None
        target_shape = (*self.data_shape, self.likelihood.num_params)
        self.encoder = self._layer_arg("encoder", encoder) if encoder is not None else \
            networks.build_encoder(self.network, self.hidden_dims, activation, self.num_res_blocks)
        self.decoder = self._layer_arg("decoder", decoder) if decoder is not None else \
            networks.build_decoder(self.network, self.hidden_dims, target_shape, activation,
                                   self.num_res_blocks, self.upsampling)
        # The posterior head runs in float32 under mixed precision: the KL and the
        # reparameterised sample are sensitive to float16 rounding of small scales.
        self.posterior_head = keras.layers.Dense(2 * self.latent_dim, dtype="float32",
                                                 name="posterior_head")
        self.class_prior = bool(self.num_classes) if class_prior is None else \
            validation.boolean("class_prior", class_prior)
        if self.class_prior and not self.num_classes:
            raise ValueError("class_prior is a prior per class: it needs num_classes. "
                             f"Received: class_prior={class_prior!r}, num_classes=None")
        # Zeros: p(z|y) starts as N(0, I) for every class.
        self.prior_head = keras.layers.Dense(
            2 * self.latent_dim, use_bias=False, kernel_initializer="zeros", dtype="float32",
            name="class_prior") if self.class_prior else None
        self._build_layers(target_shape)

    @staticmethod
    def _layer_arg(name, value):
        if isinstance(value, dict):
            value = keras.saving.deserialize_keras_object(value)
        if not isinstance(value, keras.layers.Layer):
            raise TypeError(f"{name} must be a keras.layers.Layer. Received: {name}={value!r}")
        return value

    def _build_layers(self, target_shape):
        data = (None, *self.likelihood.encoder_input_shape(self.data_shape))
        if not self.encoder.built:
            self.encoder.build(data)
        features = self.encoder.compute_output_spec(keras.KerasTensor(data)).shape
        if len(features) != 2:
            raise ValueError(
                "encoder must output [batch, features]. "
                f"Received: encoder output shape {tuple(features)}")
        self.posterior_head.build((None, features[-1] + (self.num_classes or 0)))
        decoder_input = (None, self.latent_dim + (self.num_classes or 0))
        if not self.decoder.built:
            self.decoder.build(decoder_input)
        out = tuple(self.decoder.compute_output_spec(keras.KerasTensor(decoder_input)).shape[1:])
        if out != target_shape:
            raise ValueError(
                f"decoder must output [batch, *input_shape, num_params] = {list(target_shape)} "
                f"for this likelihood. Received: decoder output shape {list(out)}")
        self.likelihood.build(self.data_shape)
        if self.prior_head is not None:
            self.prior_head.build((None, self.num_classes))
        self.built = True

    @property
    def noise_dim(self):
        """int. Size of the noise `sample_from_noise` takes: `latent_dim`."""
        return self.latent_dim

    @property
    def noise_is_latent(self):
        """bool. Whether `latent_from_noise` is the identity: not under a class prior."""
        return self.prior_head is None

    @property
    def latent_shape(self):
        """tuple. Shape of one latent code, as taken by `decode`: `(latent_dim,)`."""
        return (self.latent_dim,)

    def _conditioned(self, h, y):
        """`h` with the one-hot labels appended, for a conditional model."""
        if not self.num_classes:
            return h
        return labels.append(h, self._require_codes(y))

    def _encode(self, x, training=False, y=None):
        h = self.encoder(self.likelihood.encoder_input(x), training=training)
        params = self.posterior_head(self._conditioned(h, y))  # [batch, 2 * latent]
        loc, raw_scale = tf.split(tf.cast(params, tf.float32), 2, axis=-1)
        scale = tf.math.softplus(raw_scale) + self.min_posterior_scale
        return tfd.Independent(tfd.Normal(loc, scale), reinterpreted_batch_ndims=1)

    def _decode(self, z, training=False, y=None):
        return self.likelihood.distribution(self.decoder(self._conditioned(z, y), training=training))

    def _features(self, x):
        h = tf.cast(self.encoder(self.likelihood.encoder_input(x)), tf.float32)
        return tf.reshape(h, [tf.shape(h)[0], -1])

    def _prior(self, y=None):
        if self.prior_head is None:
            return priors.standard_normal(self.latent_dim)
        loc, scale = self._class_prior_params(y)
        return tfd.Independent(tfd.Normal(loc, scale), reinterpreted_batch_ndims=1)

    def _class_prior_params(self, y):
        """(mu_y, sigma_y) `[batch, latent_dim]` of p(z|y) for one-hot labels `y`."""
        params = self.prior_head(tf.cast(self._require_codes(y), tf.float32))
        loc, log_scale = tf.split(params, 2, axis=-1)
        return loc, tf.exp(log_scale)

    def latent_from_noise(self, eps, y=None):
        """z = mu_y + sigma_y * eps under a class prior; the noise itself otherwise."""
        if self.prior_head is None:
            return eps
        loc, scale = self._class_prior_params(y)
        return loc + scale * tf.cast(eps, tf.float32)

    def get_config(self):
        """The constructor arguments (custom encoder and decoder serialised), for saving."""
        config = super().get_config()
        config.update({
            "latent_dim": self.latent_dim,
            "network": self.network,
            "hidden_dims": self.hidden_dims,
            "activation": self.activation,
            "num_res_blocks": self.num_res_blocks,
            "upsampling": self.upsampling,
            "encoder": keras.saving.serialize_keras_object(self.encoder)
            if self.custom_encoder else None,
            "decoder": keras.saving.serialize_keras_object(self.decoder)
            if self.custom_decoder else None,
            "min_posterior_scale": self.min_posterior_scale,
            "class_prior": self.class_prior,
        })
        return config

    @classmethod
    def from_config(cls, config):
        """Rebuilds a saved model; one saved before `class_prior` existed keeps N(0, I)."""
        config = dict(config)
        config.setdefault("class_prior", False)
        return super().from_config(config)
