"""The base class of every model in the zoo: a latent-variable model trained by the ELBO."""

import keras
import tensorflow as tf
import tensorflow_probability as tfp

from zoo import labels as label_codes
from zoo import likelihoods, losses, validation
from zoo.applications import anomaly, denoising, imputation
from zoo.evaluation.likelihood import (DEFAULT_MAX_ROWS_PER_PASS, PRECISIONS,
                                       ImportanceWeightedEstimator)
from zoo.losses import ElboTerms, tile_samples
from zoo.sampler import SamplerSpec
from zoo.training import guard, schedules
from zoo.training.hooks import KerasTraining
from zoo.training.step import StepSeeds, TrainablePart


class LatentVariableModel(KerasTraining, keras.Model):
    """A latent-variable model p(x, z) = p(z) p(x|z) with amortised posterior q(z|x).

    The class is the probabilistic model: encoder, decoder and prior as TFP distributions,
    the ELBO and importance weights, sampling from noise, serialization. Subclasses
    implement `_encode`, `_decode`, `_prior`, `_features`, `noise_dim` and `latent_shape`;
    hierarchies override the building blocks. Training (`zoo.training`), applications,
    likelihood estimation and export (`sampler_spec`) use only the public methods.

    Objective (per batch, minimised; `objective`):
      loss = -E_batch[log p(x|z)] + w_t * sum_j max(lambda, E_batch[KL_j]),
      z ~ q(z|x) reparameterised, w_t = beta * min(1, t / kl_warmup_steps), lambda =
      free_bits (`zoo.training.schedules`). With beta = 1, no warm-up and no free bits,
      loss = -ELBO. `sample_weight` in `fit` weighs each example's terms.

    `fit` reports `loss`, `reconstruction` (-log p(x|z)), `kl` (unweighted), `active_units`
    (dimensions with batch-mean KL > `active_unit_threshold`) and `skipped_steps`
    (`zoo.training.guard`); hierarchies add `kl_<group>`, `active_units_<group>`, and
    clipping or skipping adds `grad_norm`.

    Args:
      input_shape: tuple of ints. Shape of one example, e.g. (28, 28, 1) or (n_features,).
      likelihood: str or `zoo.likelihoods.Likelihood`. "bernoulli", "gaussian" or
        "discretized_logistic". Defaults to "bernoulli".
      beta: float. Weight of the KL term (beta-VAE [1]). Defaults to 1.
      kl_warmup_steps: int. Optimizer steps over which the KL weight rises linearly from
        ~0 to `beta`. Defaults to 0 (no warm-up).
      free_bits: float. Nats per unit below which the KL is not penalised [2]. Defaults to 0.
      active_unit_threshold: float. KL (nats) above which a unit counts as active.
        Defaults to 0.01.
      seed: int or None. Seed of the training noise. Defaults to None (fresh entropy).
        Initial weights follow Keras' global seed (`keras.utils.set_random_seed`).
      gradient_clip_norm: float or None. Clip each step's gradients to this global norm
        (under a distribution strategy, each replica's). Defaults to None.
      skip_threshold: float or None. Skip steps whose gradient norm (before clipping)
        exceeds this [3]. Defaults to None.
      max_consecutive_skips: int. Threshold skips allowed in a row before an update is
        forced. Defaults to 10.
      skip_nonfinite: bool. Skip (and count) steps whose loss (or, with clipping or a
        threshold, gradient norm) is NaN/inf. Defaults to True.
      binarize: None, "dynamic" or "static". How the training images were binarized
        (`zoo.data`), recorded so that evaluation and scoring binarize the same way (with
        a fixed draw); the model itself never binarizes. Defaults to None.
      num_classes: int >= 2 or None. A conditional model p(x | y) of that many classes:
        every method that involves data takes `labels` (class ids, or names with
        `class_names`), and `fit` trains on `(x, labels)` batches. Defaults to None
        (unconditional).
      class_names: optional list of `num_classes` strings, so labels can be given by name.
      dtype: None or a Keras dtype policy name, e.g. "mixed_bfloat16". The networks
        compute in its dtype; distributions and the loss stay float32 (see
        `zoo.training.precision`). Saved with the model. Defaults to None (Keras' global
        policy).

    References:
      [1] Higgins et al. beta-VAE. ICLR 2017.
      [2] Kingma et al. Improved variational inference with inverse autoregressive flow.
          NeurIPS 2016.
      [3] Child. Very deep VAEs generalize autoregressive models. ICLR 2021.
    """

    #: Whether `kl_dims` holds one KL per latent dimension (not with a flow prior).
    kl_splits_by_dimension = True
    #: Whether the noise is the latent code: then sampler and `decode` are one graph.
    noise_is_latent = True

    def __init__(self, input_shape, likelihood="bernoulli", beta=1.0, kl_warmup_steps=0,
                 free_bits=0.0, active_unit_threshold=0.01, seed=None, gradient_clip_norm=None,
                 skip_threshold=None, max_consecutive_skips=10, skip_nonfinite=True,
                 binarize=None, num_classes=None, class_names=None, **kwargs):
        super().__init__(**kwargs)
        self.num_classes = label_codes.check_num_classes(num_classes)
        self.class_names = label_codes.check_class_names(class_names, self.num_classes)
        if self.num_classes:
            # Labels seen in training, saved with the weights: `sample` without labels
            # draws classes at these frequencies.
            # Per replica, summed on reading (as Keras metrics are): each replica
            # counts its own share of a distributed batch. Not `add_weight`, which has
            # no synchronization argument; assigned, it is tracked like a weight.
            self.class_counts = keras.Variable(initializer="zeros", shape=(self.num_classes,),
                                               dtype="float32", trainable=False,
                                               name="class_counts", aggregation="sum",
                                               synchronization="on_read")
        self.data_shape = validation.shape_tuple("input_shape", input_shape)
        self.likelihood_arg = likelihood
        self.likelihood = likelihoods.get(likelihood)
        self.beta = validation.non_negative_float("beta", beta)
        self.kl_warmup_steps = validation.non_negative_int("kl_warmup_steps", kl_warmup_steps)
        self.free_bits = validation.non_negative_float("free_bits", free_bits)
        self.active_unit_threshold = validation.non_negative_float(
            "active_unit_threshold", active_unit_threshold)
        self.seed = None if seed is None else validation.non_negative_int("seed", seed)
        (self.gradient_clip_norm, self.skip_threshold, self.max_consecutive_skips,
         self.skip_nonfinite) = guard.check_settings(gradient_clip_norm, skip_threshold,
                                                     max_consecutive_skips, skip_nonfinite)
        self.binarize = None if binarize is None else validation.one_of(
            "binarize", binarize, ("dynamic", "static"))
        self.step_seeds = StepSeeds(seed)
        self.update_guard = guard.UpdateGuardState(name="update_guard")
        self.term_tracker = self.grad_norm_tracker = None  # made by `compile`
        self._tools = {}  # compiled methods and helper objects, made on first use

    # ------------------------------------------------------------------ to implement
    @property
    def noise_dim(self):
        """Size of the standard-normal noise `sample_from_noise` turns into a sample."""
        raise NotImplementedError

    @property
    def latent_shape(self):
        """Shape of one latent code, as taken by `decode`."""
        raise NotImplementedError

    def _encode(self, x, training=False, y=None):
        """q(z|x) (with `y`, the one-hot labels of a conditional model: q(z|x, y))."""
        raise NotImplementedError

    def _decode(self, z, training=False, y=None):
        """p(x|z) (p(x|z, y) with one-hot labels `y`)."""
        raise NotImplementedError

    def _prior(self, y=None):
        """p(z) (p(z|y) for one-hot labels `y` where the prior depends on the class)."""
        raise NotImplementedError

    def _features(self, x):
        """The encoder's deterministic features of `x`, flattened: `[batch, feature_dim]`."""
        raise NotImplementedError

    @property
    def latent_groups(self):
        """`((name, size), ...)` splitting `kl_dims` into reported groups, or None."""
        return None

    # ------------------------------------------------------------------ building blocks
    # Tensors in and out, traceable, inputs unchecked: what the rest composes.
    # `y` is None, or the one-hot labels `[batch, num_classes]` of a conditional model,
    # row for row with `x` (or `eps`, `z`).
    def latent_from_noise(self, eps, y=None):
        """Latent codes distributed as p(z) (p(z|y)) from standard-normal noise `[n, noise_dim]`."""
        return eps

    def decoder_distribution(self, z, y=None):
        """p(x|z) (p(x|z, y)) at latents `z` `[batch, *latent_shape]`, unchecked."""
        return self._decode(z, y=y)

    def posterior_sample(self, x, seed, y=None):
        """One z ~ q(z|x) per example, `[batch, *latent_shape]`, as `decode` takes it."""
        return self._encode(x, y=y).sample(seed=seed)

    def log_prior(self, z, y=None):
        """log p(z) per latent code, `[batch]`."""
        return self._prior(y).log_prob(z)

    def log_prior_ratio(self, x, z, y=None):
        """log p(z) - log q(z|x) for latents `z` `[batch, ...]` or `[k, batch, ...]`."""
        return self.log_prior(z, y) - self._encode(x, y=y).log_prob(z)

    def log_weight(self, x, z, y=None):
        """log w(z) = log p(x|z) + log p(z) - log q(z|x) at given latents `z`, `[batch]`."""
        return self._decode(z, y=y).log_prob(x) + self.log_prior_ratio(x, z, y)

    def sample_log_weights(self, x, num_samples, seed, y=None):
        """log w for `num_samples` fresh z ~ q(z|x) per example: `[k, batch]`."""
        log_px, log_prior, log_q, _ = self._importance_terms(x, num_samples, seed, y=y)
        return log_px + log_prior - log_q

    def _importance_terms(self, x, num_samples, seed, training=False, y=None):
        """log p(x|z), log p(z), log q(z|x) `[k, batch]` at `num_samples` z ~ q(z|x), and q."""
        posterior = self._encode(x, training=training, y=y)
        z = posterior.sample(num_samples, seed=seed)  # [k, batch, latent]
        flat_z = tf.reshape(z, tf.concat([[-1], tf.shape(z)[2:]], 0))  # sample-major
        tiled_y = None if y is None else tile_samples(y, num_samples)
        log_px = self._decode(flat_z, training=training, y=tiled_y).log_prob(
            tile_samples(x, num_samples))
        return (tf.reshape(log_px, tf.shape(z)[:2]), self._prior(y).log_prob(z),
                posterior.log_prob(z), posterior)

    def _elbo_terms(self, x, seed, training=False, y=None):
        """One-sample ELBO pieces for a batch, as `ElboTerms`."""
        posterior = self._encode(x, training=training, y=y)
        z = posterior.sample(seed=seed)  # [batch, latent]
        kl = losses.kl_units(posterior, self._prior(y), z)
        return ElboTerms(self._decode(z, training=training, y=y).log_prob(x), kl, kl,
                         posterior.mean())

    def _elbo(self, x, seed, y=None):
        terms = self._elbo_terms(x, seed, y=y)
        return losses.elbo(terms.log_px, tf.reduce_sum(terms.kl_units, axis=-1))

    def _latent_mean(self, x, y=None):
        """The posterior mean of `x` as a latent code `decode` takes (all groups)."""
        return self._encode(x, y=y).mean()

    def _reconstruct(self, x, y=None):
        return self._decode(self._latent_mean(x, y), y=y).mean()

    def _embed(self, x, y=None):
        return self._encode(x, y=y).mean()

    def _sample_from_noise(self, eps, y=None):
        return self._decode(self.latent_from_noise(eps, y), y=y).mean()

    def sampler_spec(self):
        """What export builds serving and TFLite graphs from: `zoo.sampler.SamplerSpec`.

        A conditional model's functions take int32 class ids `labels` `[batch]` after
        their tensor (one-hot coded inside the graph)."""
        shape = {"noise_dim": self.noise_dim, "latent_shape": tuple(self.latent_shape),
                 "output_shape": self.data_shape, "noise_is_latent": self.noise_is_latent}
        if not self.num_classes:
            return SamplerSpec(**shape, latent_from_noise=self.latent_from_noise,
                               decode_mean=lambda z: self._decode(z).mean(),
                               sample_from_noise=self._sample_from_noise)
        codes = lambda ids: label_codes.one_hot(ids, self.num_classes)  # noqa: E731
        return SamplerSpec(
            **shape,
            latent_from_noise=lambda eps, ids: self.latent_from_noise(eps, codes(ids)),
            decode_mean=lambda z, ids: self._decode(z, y=codes(ids)).mean(),
            sample_from_noise=lambda eps, ids: self._sample_from_noise(eps, codes(ids)),
            extra_inputs={"labels": tf.TensorSpec([None], tf.int32, name="labels")},
            num_classes=self.num_classes)

    # ------------------------------------------------------------------ training contract
    @property
    def objective_terms(self):
        """Names of the scalar terms of `objective` that `fit` reports."""
        names = ["loss", "reconstruction", "kl", "active_units"]
        for name, _ in self.latent_groups or ():
            names += [f"kl_{name}", f"active_units_{name}"]
        return tuple(names)

    def kl_loss(self, kl_units, step):
        """The KL part of the loss at optimizer step `step` (`zoo.training.schedules`)."""
        return schedules.kl_loss(kl_units, step, self.beta, self.kl_warmup_steps, self.free_bits)

    def batch_labels(self, y, training=False):
        """The one-hot codes of a batch's labels `y` `[batch]` for a conditional model's
        objective (counted into `class_counts` when `training`); None for an
        unconditional model, which ignores labels.

        Raises:
          ValueError: a conditional model given no labels.
        """
        if not self.num_classes:
            return None
        if y is None:
            raise ValueError(
                f"A conditional model (num_classes={self.num_classes}) trains on (x, labels) "
                "batches, e.g. zoo.data.load(..., with_labels=True) or fit(x, labels). "
                "Received: batches without labels")
        ids = tf.cast(tf.reshape(y, [-1]), tf.int32)
        checks = [tf.debugging.assert_non_negative(ids, message="labels must be >= 0"),
                  tf.debugging.assert_less(ids, self.num_classes,
                                           message=f"labels must be < num_classes={self.num_classes}")]
        with tf.control_dependencies(checks):
            codes = label_codes.one_hot(ids, self.num_classes)
        if training:
            self.class_counts.assign_add(tf.reduce_sum(codes, axis=0))
        return codes

    def objective(self, x, y=None, sample_weight=None, *, seed, step, training):
        """The training loss and the terms `fit` reports, for one batch (labels `y` are
        used by a conditional model only)."""
        terms = self._elbo_terms(x, seed, training=training, y=self.batch_labels(y, training))
        log_px, kl_units = terms.log_px, terms.kl_units
        if sample_weight is not None:
            weights = losses.example_weights(sample_weight)  # [batch], mean 1
            log_px, kl_units = log_px * weights, kl_units * weights[:, None]
        reconstruction = -tf.reduce_mean(log_px)
        result = {"loss": reconstruction + self.kl_loss(kl_units, step),
                  "reconstruction": reconstruction,
                  "kl": tf.reduce_mean(tf.reduce_sum(terms.kl_units, axis=-1)),
                  "active_units": self._active_units(terms)}
        if self.latent_groups:
            result.update(losses.group_terms(terms.kl_dims, self.latent_groups,
                                             self.active_unit_threshold))
        return result

    def _active_units(self, terms):
        """Latent dimensions in use in this batch: batch-mean KL above the threshold."""
        return losses.active_units(terms.kl_dims, self.active_unit_threshold)

    def trainable_parts(self):
        """`zoo.training.TrainablePart`s: one optimizer minimising "loss" over every weight."""
        return [TrainablePart("loss", self.optimizer, self.trainable_variables)]

    # ------------------------------------------------------------------ Keras hooks
    def call(self, inputs, training=False):
        """Reconstruction of `inputs` (`(x, labels)` for a conditional model): the decoder
        mean at the posterior mean."""
        if self.num_classes:
            if not isinstance(inputs, (tuple, list)) or len(inputs) != 2:
                raise ValueError("A conditional model is called on (x, labels). Received: "
                                 f"inputs of type {type(inputs).__name__}")
            x, ids = inputs
            return self._reconstruct(tf.cast(x, tf.float32),
                                     label_codes.one_hot(ids, self.num_classes))
        return self._reconstruct(tf.cast(inputs, tf.float32))

    # ------------------------------------------------------------------ public API
    def _tool(self, key, make):
        """A helper of this model (a compiled method, an imputer, ...), made once."""
        if key not in self._tools:
            self._tools[key] = make()
        return self._tools[key]

    def _compiled(self, method):
        # reduce_retracing: a varying last batch does not pile up traces.
        return self._tool(method.__name__, lambda: tf.function(method, reduce_retracing=True))

    def check_input(self, name, x):
        """`x` as a checked float32 batch, or a `ValueError`/`TypeError` naming `name`.
        8-bit images (uint8) are scaled to [0, 1], as `zoo.data` does; a tabular model
        takes a DataFrame of its table's columns."""
        x = self.likelihood.prepare(name, x)
        x = validation.scale_pixels(x) if self.likelihood.takes_pixels else x
        x = validation.check_data(name, x, self.data_shape, self.likelihood.support,
                                  allow_missing=self.likelihood.allows_missing)
        if tf.executing_eagerly():
            self.likelihood.check_values(name, x.numpy())
        return x

    def label_ids(self, labels, n, draw=False, seed=None):
        """User `labels` for `n` examples as checked int32 class ids `[n]`, or None.

        A conditional model needs labels (class ids, or names with `class_names`); given
        none and `draw` (sampling), it draws classes at the frequencies seen in
        training (`class_counts`; uniform before any training) with `seed` (numpy seed or
        None). An unconditional model takes none. Everything else is a
        `ValueError`/`TypeError` naming `labels`. A traced tensor is passed through,
        checked by shape only.
        """
        if not self.num_classes:
            if labels is not None:
                raise ValueError("labels are for conditional models (num_classes set); this "
                                 f"{type(self).__name__} is unconditional. Received: labels="
                                 f"{validation._short(labels)}")
            return None
        if labels is None:
            if not draw or not tf.executing_eagerly():
                raise ValueError(
                    f"This model is conditional (num_classes={self.num_classes}): pass labels, "
                    "one class id per example. Received: labels=None")
            return label_codes.draw(self.class_counts.numpy(), n, seed)
        if isinstance(labels, tf.Tensor) and not tf.executing_eagerly():
            return labels
        return label_codes.check_labels(labels, n, self.num_classes, self.class_names)

    def label_codes(self, labels, n, draw=False, seed=None):
        """One-hot codes `[n, num_classes]` of `label_ids(labels, n, draw, seed)`, or None."""
        ids = self.label_ids(labels, n, draw, seed)
        return None if ids is None else label_codes.one_hot(ids, self.num_classes)

    def _require_codes(self, y):
        """`y`, the one-hot labels a conditional model's networks need, or a `ValueError`
        when they are missing (a caller below the checked public API forgot them)."""
        if y is None:
            raise ValueError(f"This model is conditional (num_classes={self.num_classes}): "
                             "pass labels. Received: labels=None")
        return y

    def _with_labels(self, labels, x):
        """One-hot codes of `labels` checked against the rows of `x` (None if unconditional)."""
        return self.label_codes(labels, x.shape[0])

    def encode(self, x, labels=None):
        """Returns q(z|x) (q(z|x, y)), a `tfd.Distribution` with batch shape `[batch]`."""
        x = self.check_input("x", x)
        return self._encode(x, y=self._with_labels(labels, x))

    def decode(self, z, labels=None):
        """Returns p(x|z) (p(x|z, y)), a `tfd.Distribution` with batch `[batch]` and
        event `input_shape`."""
        z = validation.check_data("z", z, self.latent_shape)
        return self._decode(z, y=self._with_labels(labels, z))

    def reconstruct(self, x, labels=None):
        """Decoder mean at the posterior mean of `x`, shape `[batch, *input_shape]`."""
        x = self.check_input("x", x)
        return self._compiled(self._reconstruct)(x, self._with_labels(labels, x))

    def embed(self, x, labels=None):
        """Posterior mean E_q[z|x] for downstream tasks, shape `[batch, *latent_shape]`."""
        x = self.check_input("x", x)
        return self._compiled(self._embed)(x, self._with_labels(labels, x))

    def features(self, x):
        """The encoder's deterministic features (before the posterior), `[batch, dim]`."""
        return self._compiled(self._features)(self.check_input("x", x))

    def latent_code(self, x, labels=None):
        """Posterior means of `x` as codes for `decode` (all groups), `[batch, *latent_shape]`."""
        x = self.check_input("x", x)
        return self._compiled(self._latent_mean)(x, self._with_labels(labels, x))

    def sample_from_noise(self, eps, labels=None):
        """Decoder mean for standard-normal `eps` `[n, noise_dim]`: the graph export ships.
        A conditional model needs `labels`, one class per row of `eps`."""
        eps = validation.check_vectors("eps", eps, self.noise_dim)
        return self._compiled(self._sample_from_noise)(eps, self._with_labels(labels, eps))

    def sample(self, num_samples, seed=None, temperature=1.0, labels=None):
        """Draws `num_samples` examples: `sample_from_noise(temperature * eps)`, eps ~ N(0, I).

        A conditional model draws class `labels` (ids or names, one per sample, or one
        for all); without labels, classes are drawn at the frequencies seen in training
        (`class_counts`), with the same `seed`.
        """
        num_samples = validation.positive_int("num_samples", num_samples)
        temperature = validation.non_negative_float("temperature", temperature)
        seed = validation.seed_tensor(seed)
        y = self.label_codes(labels, num_samples, draw=True, seed=seed.numpy())
        eps = tf.random.stateless_normal([num_samples, self.noise_dim], seed=seed)
        return self._compiled(self._sample_from_noise)(eps * temperature, y)

    def elbo(self, x, num_samples=1, seed=None, labels=None):
        """Per-example ELBO in nats, `[batch]`; averaged over `num_samples` posterior draws.
        A conditional model's is the bound on log p(x | y) for the given `labels`."""
        x = self.check_input("x", x)
        y = self._with_labels(labels, x)
        num_samples = validation.positive_int("num_samples", num_samples)
        seeds = tfp.random.split_seed(validation.seed_tensor(seed), n=num_samples)
        return tf.add_n([self._compiled(self._elbo)(x, s, y) for s in seeds]) / num_samples

    def elbo_terms(self, x, seed=None, labels=None):
        """One-sample ELBO pieces in nats: `reconstruction`, `kl`, `kl_units`, `kl_dims`."""
        x = self.check_input("x", x)
        terms = self._compiled(self._elbo_terms)(x, validation.seed_tensor(seed),
                                                 y=self._with_labels(labels, x))
        return {"reconstruction": -terms.log_px, "kl": tf.reduce_sum(terms.kl_units, axis=-1),
                "kl_units": terms.kl_units, "kl_dims": terms.kl_dims}

    def anomaly_score(self, x, score=anomaly.DEFAULT_SCORE, **options):
        """Per-example anomaly score of `x`, higher = more anomalous, numpy `[batch]`.

        The default, "sample_knn", is the distance of the encoder features of `x` to those
        of the model's own samples; it needs no data besides the model. "elbo" (the
        negative ELBO in nats) ranks simple foreign inputs as *more* normal than the
        training data: see `zoo.applications.anomaly` for every score and its options.
        """
        return anomaly.anomaly_scores(self, x, score, **options)

    def log_likelihood(self, x, num_samples=1000, seed=None,
                       max_rows_per_pass=DEFAULT_MAX_ROWS_PER_PASS, precision="float32",
                       labels=None):
        """Importance-weighted log p(x) in nats, `[batch]` (`zoo.evaluation.likelihood`);
        `precision="bfloat16"` runs the networks in bfloat16, the densities in float32.
        A conditional model's is log p(x | y) for the given `labels`."""
        precision = validation.one_of("precision", precision, PRECISIONS)
        x = self.check_input("x", x)
        y = self._with_labels(labels, x)
        estimator = self._tool(f"estimator_{precision}",
                               lambda: ImportanceWeightedEstimator(self, precision))
        return estimator(x, num_samples, seed, max_rows_per_pass, y=y)

    def bits_per_dim(self, x, num_samples=1000, seed=None, labels=None):
        """`log_likelihood` as a negative log-likelihood in bits per dimension, `[batch]`.

        The NLL in nats divided by `D ln 2`, D the values in one example. For the discrete
        likelihoods (Bernoulli, the discretized logistic and its mixture) this is the
        bits/dim of the data's own levels, as papers report for 8-bit images; a Gaussian
        likelihood gives a density on [0, 1], whose bits/dim is not comparable with them.
        """
        nll = -self.log_likelihood(x, num_samples=num_samples, seed=seed, labels=labels)
        return losses.bits_per_dim(nll, float(tf.reduce_prod(self.data_shape)))

    def impute(self, x, mask=None, num_iterations=100, method=None, num_chains=8,
               seed=None, return_samples=False, num_samples=None, num_draws=None, labels=None):
        """`x` with the entries where `mask` is 0 (default: where x is NaN) filled in; a
        table's empty cells, in its own values (`zoo.applications.imputation`). A
        conditional model imputes from p(x_mis | x_obs, y) for the given `labels`.
        `method` defaults to "posterior" for a model trained with missing entries (a
        table's) and to "pseudo_gibbs" otherwise. A colour model's `mask` may give whole
        pixels (`[batch, height, width]` or `[..., 1]`) or single channels (the images'
        shape)."""
        return self._tool("imputer", lambda: imputation.Imputer(self))(
            x, mask, num_iterations, method, num_chains, seed, return_samples, num_samples,
            num_draws, labels)

    def denoise(self, y, noise="gaussian", noise_scale=0.1, num_steps=200, learning_rate=0.05,
                batch_size=500, labels=None):
        """Denoised `y`: the decoder mean at the MAP code (`zoo.applications.denoising`);
        a conditional model's, for the class `labels` of the noisy images."""
        return self._tool("denoiser", lambda: denoising.Denoiser(self))(
            y, noise, noise_scale, num_steps, learning_rate, batch_size, labels)

    # ------------------------------------------------------------------ presets, config
    def save_to_preset(self, directory, metadata=None, overwrite=False):
        """Writes this model as a preset directory; see `zoo.presets`."""
        from zoo import presets

        return presets.save_to_preset(self, directory, metadata=metadata, overwrite=overwrite)

    @classmethod
    def from_preset(cls, preset, sha256=None, cache_dir=None, **overrides):
        """Loads a preset of this class (name, directory or URL); see `zoo.presets`."""
        from zoo import presets

        return presets.from_preset(preset, cls=cls, sha256=sha256, cache_dir=cache_dir, **overrides)

    def get_config(self):
        likelihood = self.likelihood_arg
        if not isinstance(likelihood, str):
            likelihood = keras.saving.serialize_keras_object(self.likelihood)
        return {"name": self.name, "trainable": self.trainable, "input_shape": self.data_shape,
                "likelihood": likelihood, "beta": self.beta, "kl_warmup_steps": self.kl_warmup_steps,
                "free_bits": self.free_bits, "active_unit_threshold": self.active_unit_threshold,
                "seed": self.seed, "gradient_clip_norm": self.gradient_clip_norm,
                "skip_threshold": self.skip_threshold,
                "max_consecutive_skips": self.max_consecutive_skips,
                "skip_nonfinite": self.skip_nonfinite, "binarize": self.binarize,
                "num_classes": self.num_classes,
                "class_names": list(self.class_names) if self.class_names else None,
                # The policy's name: a model saved under mixed precision loads under it.
                "dtype": self.dtype_policy.name}
