"""The variational autoencoder (and beta-VAE)."""

import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from zoo import labels, losses, networks, priors, validation
from zoo.model import LatentVariableModel
from zoo.vae import semi_supervised as ssl

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

    Semi-supervised (`semi_supervised=True`, with `num_classes`): M2 of [5]. A classifier
    q(y|x) (its own network, the encoder's architecture) is trained with the model on
    `(x, y)` batches where unlabelled examples carry the label -1: labelled rows on the
    conditional bound and the classification loss (weight `alpha`), unlabelled rows on
    the bound summed over every class under q(y|x) (`zoo.vae.semi_supervised`).
    `predict_proba(x)` and `predict_labels(x)` classify; everything else is the
    conditional model's. Training costs `num_classes` decoder passes per example.

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
        with False, the prior they were trained with) and to False (M2's N(0, I)) with
        `semi_supervised`.
      semi_supervised: bool. Train as M2 [5] (see above); needs `num_classes`. Defaults
        to False.
      alpha: float or None. Weight of the labelled rows' mean classification loss
        against the batch's mean bound. None: 0.1 x (batch size / labelled rows of the
        batch), the paper's 0.1 N for batches that hold the labelled examples at their
        share of the data (`zoo.vae.semi_supervised.paper_alpha`). Defaults to None.
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

    #: Whether `semi_supervised=True` is available: the family trains on `objective` below.
    trains_semi_supervised = True

    def __init__(self, input_shape, latent_dim=32, likelihood="bernoulli", network="mlp",
                 hidden_dims=None, activation="relu", num_res_blocks=0, upsampling="nearest",
                 encoder=None, decoder=None, min_posterior_scale=1e-4, class_prior=None,
                 semi_supervised=False, alpha=None, **kwargs):
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
        self.semi_supervised = validation.boolean("semi_supervised", semi_supervised)
        if self.semi_supervised and not self.trains_semi_supervised:
            raise ValueError(f"{type(self).__name__} trains on its own objective, which has no "
                             "semi-supervised form; use zoo.VAE or zoo.FlowPriorVAE. Received: "
                             "semi_supervised=True")
        if self.semi_supervised and not self.num_classes:
            raise ValueError("semi_supervised trains a classifier of the classes: it needs "
                             "num_classes. Received: semi_supervised=True, num_classes=None")
        if self.semi_supervised and self.free_bits:
            raise ValueError("semi_supervised sums each example's bound over the classes, which "
                             f"has no batch KL for free bits. Received: free_bits={self.free_bits!r}")
        self.alpha = None if alpha is None else validation.positive_float("alpha", alpha)
        if alpha is not None and not self.semi_supervised:
            raise ValueError("alpha weighs a semi-supervised model's classification loss: it "
                             f"needs semi_supervised=True. Received: alpha={alpha!r}")
        self.class_prior = bool(self.num_classes and not self.semi_supervised) \
            if class_prior is None else validation.boolean("class_prior", class_prior)
        if self.class_prior and not self.num_classes:
            raise ValueError("class_prior is a prior per class: it needs num_classes. "
                             f"Received: class_prior={class_prior!r}, num_classes=None")
        # Zeros: p(z|y) starts as N(0, I) for every class.
        self.prior_head = keras.layers.Dense(
            2 * self.latent_dim, use_bias=False, kernel_initializer="zeros", dtype="float32",
            name="class_prior") if self.class_prior else None
        if self.semi_supervised:  # q(y|x): a network of the encoder's architecture
            trunk = networks.MLPEncoder if self.network == "mlp" else networks.ConvEncoder
            options = {} if self.network == "mlp" else {"num_res_blocks": self.num_res_blocks}
            self.classifier = trunk(self.hidden_dims, activation=activation,
                                    name="classifier", **options)
            self.classifier_head = keras.layers.Dense(self.num_classes, dtype="float32",
                                                      name="classifier_head")
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
        if self.semi_supervised:
            self.classifier.build(data)
            width = self.classifier.compute_output_spec(keras.KerasTensor(data)).shape[-1]
            self.classifier_head.build((None, width))
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

    # ------------------------------------------------------------------ semi-supervised
    @property
    def objective_terms(self):
        """The terms `fit` reports; a semi-supervised model adds `classification`."""
        terms = super().objective_terms
        return (*terms, "classification") if self.semi_supervised else terms

    def _class_log_probs(self, x, training=False):
        """log q(y|x) `[batch, num_classes]` of the semi-supervised classifier."""
        h = self.classifier(self.likelihood.encoder_input(x), training=training)
        return tf.nn.log_softmax(tf.cast(self.classifier_head(h), tf.float32), axis=-1)

    def objective(self, x, y=None, sample_weight=None, *, seed, step, training):
        """The training loss and reported terms for one batch; M2's with `semi_supervised`
        (labels -1, or no labels at all, mark unlabelled examples)."""
        if not self.semi_supervised:
            return super().objective(x, y, sample_weight, seed=seed, step=step, training=training)
        k = self.num_classes
        batch = tf.shape(x)[0]
        if y is None:
            ids = tf.fill([batch], ssl.UNLABELLED)
        else:
            ids = tf.cast(tf.reshape(y, [-1]), tf.int32)
            checks = [tf.debugging.assert_greater_equal(
                          ids, ssl.UNLABELLED, message="labels must be class ids, or -1 for none"),
                      tf.debugging.assert_less(ids, k, message=f"labels must be < num_classes={k}")]
            with tf.control_dependencies(checks):
                ids = tf.identity(ids)
        labelled = ssl.labelled_mask(ids)  # [batch]
        own = labels.one_hot(ids, k)  # zero rows where unlabelled
        if training:
            self.class_counts.assign_add(tf.reduce_sum(own, axis=0))
        log_q_y = self._class_log_probs(x, training)  # [batch, k]
        # Every example under every class at once: class-major rows c * batch + b.
        codes = labels.one_hot(tf.repeat(tf.range(k), batch), k)
        terms = self._elbo_terms(losses.tile_samples(x, k), seed, training=training, y=codes)
        to_rows = lambda t: tf.transpose(tf.reshape(t, [k, batch]))  # noqa: E731 [batch, k]
        log_px = to_rows(terms.log_px)
        kl = to_rows(tf.reduce_sum(terms.kl_units, axis=-1))
        weight = losses.kl_weight(step, self.beta, self.kl_warmup_steps)
        per_class = -log_px + weight * kl - ssl.log_uniform_prior(k)  # L(x, y), [batch, k]
        # Labelled rows take their class; unlabelled rows the classifier's belief.
        belief = labelled[:, None] * own + (1.0 - labelled[:, None]) * tf.exp(log_q_y)
        per_example = (labelled * tf.reduce_sum(own * per_class, axis=-1)
                       + (1.0 - labelled) * ssl.unlabelled_bound(per_class, log_q_y))
        cross_entropy = -tf.reduce_sum(own * log_q_y, axis=-1)  # 0 where unlabelled
        if sample_weight is not None:
            weights = losses.example_weights(sample_weight)
            per_example, cross_entropy = per_example * weights, cross_entropy * weights
        num_labelled = tf.maximum(tf.reduce_sum(labelled), 1.0)
        classification = tf.reduce_sum(cross_entropy) / num_labelled
        alpha = (0.1 * tf.cast(batch, tf.float32) / num_labelled if self.alpha is None
                 else self.alpha)
        kl_dims = tf.reshape(terms.kl_dims, [k, batch, -1])
        expected_kl_dims = tf.einsum("bk,kbd->bd", belief, kl_dims)
        return {"loss": tf.reduce_mean(per_example) + alpha * classification,
                "reconstruction": -tf.reduce_mean(tf.reduce_sum(belief * log_px, axis=-1)),
                "kl": tf.reduce_mean(tf.reduce_sum(belief * kl, axis=-1)),
                "active_units": losses.active_units(expected_kl_dims, self.active_unit_threshold),
                "classification": classification}

    def _require_classifier(self, method):
        if not self.semi_supervised:
            raise ValueError(f"{method} needs the classifier of a semi-supervised model "
                             "(semi_supervised=True, num_classes). Received: a "
                             f"{type(self).__name__} with semi_supervised=False")

    def predict_proba(self, x):
        """q(y|x) of a semi-supervised model: class probabilities, numpy `[batch, num_classes]`."""
        self._require_classifier("predict_proba")
        x = self.check_input("x", x)
        log_q = self._compiled(self._class_log_probs)(x)
        return np.exp(np.asarray(log_q))

    def predict_labels(self, x):
        """The most probable class under q(y|x), int numpy `[batch]` (ids; see `class_names`)."""
        return np.argmax(self.predict_proba(x), axis=-1)

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
            "semi_supervised": self.semi_supervised,
            "alpha": self.alpha,
        })
        return config

    @classmethod
    def from_config(cls, config):
        """Rebuilds a saved model; one saved before `class_prior` existed keeps N(0, I)."""
        config = dict(config)
        config.setdefault("class_prior", False)
        return super().from_config(config)
