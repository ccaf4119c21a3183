"""VAE-GAN: a VAE whose decoder is also trained against a discriminator."""

import keras
import tensorflow as tf
import tensorflow_probability as tfp

from zoo import losses, validation
from zoo.training import precision
from zoo.training.step import TrainablePart, build_optimizers
from zoo.vae.vae_model import VAE
from zoo.vaegan.discriminator import Discriminator


@keras.saving.register_keras_serializable(package="vaezoo")
class VAEGAN(VAE):
    """VAE-GAN (Larsen et al. 2016): reconstruction measured by a discriminator.

    The decoder doubles as a GAN generator. A discriminator D learns to tell data x
    from reconstructions x~ = Dec(z), z ~ q(z|x), and from prior samples x_p = Dec(z_p),
    z_p ~ p(z); the reconstruction error is taken in one of D's hidden layers instead of
    pixel space, which favours sharp samples over the blur a pixel likelihood rewards.

    Math (per batch; w_t the KL weight with warm-up, as in `zoo.VAE`):
      L_prior = KL(q(z|x) || p(z))
      L_feat  = 0.5 ||D_l(x) - D_l(x~)||^2                (`zoo.losses.feature_reconstruction`)
      L_pixel = -log p(x | z)                              (optional, `pixel_weight`)
      L_D     = BCE(D(x), 1) + (BCE(D(x~), 0) + BCE(D(x_p), 0)) / 2
      L_G     = -log D(x~) - log D(x_p)                    (non-saturating)
      L_rec   = L_feat + pixel_weight L_pixel
      encoder:       w_t L_prior + L_rec
      decoder:       gamma L_rec + g_t L_G
      discriminator: L_D, applied only when d_t
    with g_t, d_t the equilibrium gates (`zoo.losses.equilibrium_gates`) when
    `equilibrium` is set, else 1. gamma trades reconstruction against realism in the
    decoder only, as in the paper; the encoder keeps an ELBO-like balance between its KL
    and reconstruction terms. Each network has its own optimizer (`compile`).

    Stabilisers: equilibrium gating (from the paper's reference code) and optionally
    spectral normalization of the discriminator (`spectral_norm=True`).

    Only the encoder, decoder and likelihood are used by `sample_from_noise`, `encode`
    and `decode`, so `export` ships the decoder and leaves the discriminator behind.
    `elbo` and `log_likelihood` still use the pixel likelihood, which this training does
    not fit unless `pixel_weight` > 0.

    Args:
      input_shape, latent_dim, likelihood, network, hidden_dims, ...: as `zoo.VAE`.
      gamma: float. Weight of the reconstruction term in the decoder's loss against the
        adversarial term (the paper's gamma). Defaults to 1.0.
      pixel_weight: float. Weight of the pixel negative log-likelihood inside the
        reconstruction term. 0 is the paper's objective; a pixel term anchors training
        when the discriminator's features are small (spectral normalization).
        Defaults to 0.0.
      discriminator_dims: list of ints. See `Discriminator`. Defaults to (32, 64, 128) for
        conv, (512, 256) for MLP.
      feature_layer: int. Discriminator layer of the feature loss. Defaults to -1.
      spectral_norm: bool. Spectral normalization in the discriminator. Defaults to False.
      equilibrium: float or None. Equilibrium cross-entropy for gating; None disables
        gating. Defaults to 0.68.
      margin: float. Gating margin. Defaults to 0.35.

    Example:

    ```python
    import numpy as np, zoo
    x = (np.random.rand(64, 28, 28, 1) > 0.5).astype("float32")
    model = zoo.VAEGAN(input_shape=(28, 28, 1), latent_dim=8, network="conv",
                       hidden_dims=(16, 32), discriminator_dims=(16, 32))
    model.compile(optimizer="adam")  # also used (cloned) for decoder and discriminator
    model.fit(x, epochs=1, batch_size=32, verbose=0)
    images = model.sample(4, seed=0)
    ```

    References:
      [1] Larsen, Sønderby, Larochelle, Winther. Autoencoding beyond pixels using a
          learned similarity metric. ICML 2016.
    """

    trains_semi_supervised = False  # its own objective

    def __init__(self, input_shape, latent_dim=32, gamma=1.0, pixel_weight=0.0,
                 discriminator_dims=None, feature_layer=-1, spectral_norm=False,
                 equilibrium=0.68, margin=0.35, **kwargs):
        super().__init__(input_shape=input_shape, latent_dim=latent_dim, **kwargs)
        self.gamma = validation.non_negative_float("gamma", gamma)
        self.pixel_weight = validation.non_negative_float("pixel_weight", pixel_weight)
        self.equilibrium = None if equilibrium is None else validation.positive_float("equilibrium", equilibrium)
        self.margin = validation.non_negative_float("margin", margin)
        if discriminator_dims is None:
            discriminator_dims = (32, 64, 128) if self.network == "conv" else (512, 256)
        self.discriminator = Discriminator(self.network, discriminator_dims, feature_layer,
                                           spectral_norm, num_classes=self.num_classes,
                                           name="discriminator")
        self.discriminator.build((None, *self.data_shape))
        self.decoder_optimizer = None
        self.discriminator_optimizer = None

    # ------------------------------------------------------------------ parts
    @property
    def encoder_variables(self):
        """list. Trainable variables of the encoder and its posterior head."""
        return self.encoder.trainable_variables + self.posterior_head.trainable_variables

    @property
    def decoder_variables(self):
        """list. Trainable variables of the decoder and the likelihood."""
        return self.decoder.trainable_variables + self.likelihood.trainable_variables

    @property
    def discriminator_variables(self):
        """list. Trainable variables of the discriminator."""
        return self.discriminator.trainable_variables

    def compile(self, optimizer="adam", decoder_optimizer=None, discriminator_optimizer=None,
                **kwargs):
        """`optimizer` trains the encoder; the decoder's and discriminator's default to
        fresh copies of it (same class and settings, their own state).

        Args:
          optimizer: a Keras optimizer or its name. Defaults to "adam".
          decoder_optimizer: optional optimizer of the decoder (and likelihood).
          discriminator_optimizer: optional optimizer of the discriminator.
          **kwargs: other `keras.Model.compile` arguments.
        """

        super().compile(optimizer=optimizer, **kwargs)

        def own(value):
            value = precision.copy_optimizer(self.optimizer) if value is None \
                else keras.optimizers.get(value)
            # Under mixed float16 each part scales its own loss (its own dynamic scale).
            return precision.loss_scaled_like(self.optimizer, value)

        self.decoder_optimizer = own(decoder_optimizer)
        self.discriminator_optimizer = own(discriminator_optimizer)
        # Built now (the base compile built only the encoder's; these two were not set
        # yet), so checkpoints (BackupAndRestore, .keras) restore all three states.
        build_optimizers(self.trainable_parts())

    def trainable_parts(self):
        """The encoder, decoder and discriminator, each with its own optimizer and loss;
        the discriminator pauses while the equilibrium gate says so."""
        return [TrainablePart("encoder", self.optimizer, self.encoder_variables),
                TrainablePart("decoder", self.decoder_optimizer, self.decoder_variables),
                TrainablePart("discriminator", self.discriminator_optimizer,
                              self.discriminator_variables, pause="discriminator_paused")]

    def get_compile_config(self):
        """Keras' compile config plus the decoder's and discriminator's optimizers."""
        config = super().get_compile_config() or {}
        if self.decoder_optimizer is not None:
            config["decoder_optimizer"] = keras.saving.serialize_keras_object(self.decoder_optimizer)
            config["discriminator_optimizer"] = keras.saving.serialize_keras_object(
                self.discriminator_optimizer)
        return config

    # ------------------------------------------------------------------ training
    @property
    def objective_terms(self):
        """The VAE's reported terms plus `feature_reconstruction`, `discriminator_loss`,
        `generator_loss` and the gates `discriminator_trained`, `decoder_adversarial`."""
        return super().objective_terms + (
            "feature_reconstruction", "discriminator_loss", "generator_loss",
            "discriminator_trained", "decoder_adversarial")

    def objective(self, x, y=None, sample_weight=None, *, seed, step, training):
        """Every loss of one VAE-GAN step, for a batch (see the class docstring).

        Args:
          x: float32 `[batch, *input_shape]`.
          y: class labels `[batch]`, used by a conditional model only: the encoder,
            decoder and (projection) discriminator see them, and the prior samples are
            drawn for the batch's own classes.
          sample_weight: must be None: the adversarial losses are batch means.
          seed: stateless seed of the posterior and prior samples.
          step: the optimizer step, for the KL weight.
          training: bool. Passed to the layers.

        Returns:
          dict of scalar tensors, batch means in nats unless noted: the losses
            `encoder`, `decoder` and `discriminator` of the three parts,
            `discriminator_paused` (bool), and the reported `loss`, `reconstruction` (the
            pixel NLL), `kl`, `active_units` (a count), `feature_reconstruction`,
            `discriminator_loss`, `generator_loss`, `discriminator_trained` and
            `decoder_adversarial` (gates, 0 or 1).

        Raises:
          ValueError: `sample_weight` is given.
        """
        if sample_weight is not None:
            raise ValueError("VAEGAN does not weigh examples: its adversarial losses are "
                             "batch means. Received: sample_weight in the training data")
        posterior_seed, prior_seed = tfp.random.split_seed(seed, n=2)
        codes = self.batch_labels(y, training)
        posterior = self._encode(x, training=training, y=codes)
        z = posterior.sample(seed=posterior_seed)
        kl_units = losses.kl_units(posterior, self._prior(codes), z)
        decoded = self._decode(z, training=training, y=codes)
        reconstruction = decoded.mean()
        eps = tf.random.stateless_normal([tf.shape(x)[0], self.noise_dim], seed=prior_seed)
        z_prior = self.latent_from_noise(eps, codes)
        generated = self._decode(z_prior, training=training, y=codes).mean()
        real_logits, real_features = self.discriminator(x, codes, training=training)
        rec_logits, rec_features = self.discriminator(reconstruction, codes, training=training)
        gen_logits, _ = self.discriminator(generated, codes, training=training)
        feature_loss = tf.reduce_mean(losses.feature_reconstruction(real_features, rec_features))
        pixel_loss = -tf.reduce_mean(decoded.log_prob(x))
        real_loss, rec_fake_loss = losses.discriminator_loss(real_logits, rec_logits)
        _, gen_fake_loss = losses.discriminator_loss(real_logits, gen_logits)
        fake_loss = 0.5 * (rec_fake_loss + gen_fake_loss)
        if self.equilibrium is None:
            train_discriminator, train_decoder = tf.constant(True), tf.constant(True)
        else:
            train_discriminator, train_decoder = losses.equilibrium_gates(
                real_loss, fake_loss, self.equilibrium, self.margin)
        generator = losses.generator_loss(rec_logits) + losses.generator_loss(gen_logits)
        kl_term = self.kl_loss(kl_units, step)
        reconstruction_loss = feature_loss + self.pixel_weight * pixel_loss
        return {
            "encoder": kl_term + reconstruction_loss,
            "decoder": self.gamma * reconstruction_loss + tf.cast(train_decoder, tf.float32) * generator,
            "discriminator": real_loss + fake_loss,
            "discriminator_paused": tf.logical_not(train_discriminator),
            "loss": kl_term + reconstruction_loss + generator,
            "reconstruction": pixel_loss,
            "kl": tf.reduce_mean(tf.reduce_sum(kl_units, axis=-1)),
            "active_units": losses.active_units(kl_units, self.active_unit_threshold),
            "feature_reconstruction": feature_loss,
            "discriminator_loss": real_loss + fake_loss,
            "generator_loss": generator,
            "discriminator_trained": tf.cast(train_discriminator, tf.float32),
            "decoder_adversarial": tf.cast(train_decoder, tf.float32),
        }

    def get_config(self):
        """The constructor arguments, `zoo.VAE`'s and the VAE-GAN's, for saving."""
        config = super().get_config()
        config.update({
            "gamma": self.gamma,
            "pixel_weight": self.pixel_weight,
            "discriminator_dims": self.discriminator.hidden_dims,
            "feature_layer": self.discriminator.feature_layer,
            "spectral_norm": self.discriminator.spectral_norm,
            "equilibrium": self.equilibrium,
            "margin": self.margin,
        })
        return config
