"""The base class of every model in the zoo: a latent-variable model trained by the ELBO."""

import collections
import numbers

import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from zoo import distribute, imputation, likelihoods, losses, metrics, validation

tfd = tfp.distributions

# Rows (examples x samples) the decoder sees per pass when estimating log p(x); bounds
# memory for k = 5000 while keeping passes large enough to be efficient.
DEFAULT_MAX_ROWS_PER_PASS = 8192


ElboTerms = collections.namedtuple("ElboTerms", ["log_px", "kl_units", "kl_dims", "posterior_mean"],
                                   defaults=(None,))
ElboTerms.__doc__ = """One-sample pieces of the ELBO for a batch.

log_px: `[batch]`, log p(x|z) at a posterior sample.
kl_units: `[batch, units]`, the KL split over the units free bits act on (latent
  dimensions for a VAE, latent groups for a hierarchy); sums to the example's KL.
kl_dims: `[batch, latent dims]`, the KL per latent dimension, for active-unit counts
  (one column when the KL does not split by dimension, as with a flow prior).
posterior_mean: `[batch, latent]` E_q[z|x] or None, for the covariance criterion.
"""


#: Noise models of `denoise`: y given the decoder mean.
NOISE_MODELS = {"gaussian": lambda mean, scale: tfd.Normal(mean, scale),
                "laplace": lambda mean, scale: tfd.Laplace(mean, scale)}


def tile_samples(t, k):
    """`[batch, ...]` -> `[k * batch, ...]`, sample-major: row `i * batch + b` is `t[b]`."""
    return tf.tile(t, tf.concat([[k], tf.ones_like(tf.shape(t)[1:])], 0))


def _seed_tensor(seed):
    """A stateless seed `[2] int32` from an int, a seed tensor, or None (fresh entropy).

    Integers are mapped directly: `tfp.random.sanitize_seed(int)` goes through a stateful
    op, so the same integer would give a different seed on every eager call.
    """
    if seed is None or isinstance(seed, tf.Tensor):
        return tfp.random.sanitize_seed(seed)
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise TypeError(f"seed must be a non-negative int or None. Received: seed={seed!r}")
    seed = int(seed)
    return tf.constant([seed % 2**31, (seed >> 31) % 2**31], dtype=tf.int32)


def apply_unless(apply, skip, gradients, on_skip):
    """Runs `apply(gradients)` unless `skip`, else `on_skip()`; `skip` is equal on all replicas.

    `apply` calls `optimizer.apply_gradients`, which synchronises replicas (`merge_call`)
    and so may not sit in a `tf.cond` in a replica context. Under a strategy that needs
    `merge_call`, the cond is taken in the cross-replica context and each branch runs
    back on every replica, the way Keras' LossScaleOptimizer skips non-finite steps.
    """
    if tf.__internal__.distribute.strategy_supports_no_merge_call():
        tf.cond(skip, on_skip, lambda: apply(gradients))
        return

    def cross_replica(distribution, skip, gradients):
        flag = distribution.experimental_local_results(skip)[0]
        tf.cond(flag,
                lambda: distribution.extended.call_for_each_replica(on_skip),
                lambda: distribution.extended.call_for_each_replica(apply, args=(gradients,)))

    tf.distribute.get_replica_context().merge_call(cross_replica, args=(skip, gradients))


class _LatentMapFit:
    """`denoise`'s optimisation for batches of `rows` examples, compiled once.

    A service that denoises request after request would otherwise trace a new graph
    for every call (a fresh latent variable and optimizer each time). This holds one
    latent variable, one Adam and one compiled loop; each call resets them and pads a
    short batch to the traced shape by repeating its first row. The loss is a sum over
    rows, so each row's fit does not depend on the rows beside it (padding included).
    The learning rate is an optimizer variable, set on every call, so a new rate does
    not trace again either. A plain object, not a Keras layer: its state is scratch and
    is never saved.
    """

    def __init__(self, model, rows, noise):
        self.model, self.rows = model, rows
        self.noise_dist = NOISE_MODELS[noise]
        self.z = self.optimizer = None

    def __call__(self, y, noise_scale, num_steps, learning_rate):
        count = int(y.shape[0])
        if count < self.rows:
            y = tf.concat([y, tf.repeat(y[:1], self.rows - count, axis=0)], axis=0)
        start = self.model._latent_mean_fn(y)  # from the encoder's code
        if self.z is None:
            self.z = tf.Variable(start, name="denoise_z")
            self.optimizer = keras.optimizers.Adam(learning_rate)
            self.optimizer.build([self.z])
        else:  # a fresh start: the code, zero moments, step 0, this call's rate
            self.z.assign(start)
            for v in self.optimizer.variables:
                v.assign(tf.zeros_like(v))
            self.optimizer.learning_rate = learning_rate
        return self._fit(y, tf.constant(noise_scale, tf.float32), tf.constant(num_steps))[:count]

    @tf.function
    def _fit(self, y, noise_scale, num_steps):
        model, z = self.model, self.z
        axes = list(range(1, len(model.data_shape) + 1))
        for _ in tf.range(num_steps):
            with tf.GradientTape() as tape:
                mean = model._decode(z).mean()
                log_p_y = tf.reduce_sum(self.noise_dist(mean, noise_scale).log_prob(y), axis=axes)
                loss = -tf.reduce_sum(log_p_y + model._log_prior(z))
            self.optimizer.apply_gradients([(tape.gradient(loss, z), z)])
        return model._decode(z).mean()


@keras.saving.register_keras_serializable(package="vaezoo")
class UpdateGuardState(keras.layers.Layer):
    """Training state of the update guard, saved with the weights: steps skipped so far,
    and in a row. A layer of its own so its weights have stable paths."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        for name in ("skipped_steps", "consecutive_skips"):
            setattr(self, name, self.add_weight(
                name=name, shape=(), initializer="zeros", trainable=False,
                aggregation="only_first_replica"))
        self.built = True

    def record_skip(self, counted=1.0):
        """Counts a skipped step (`counted` is 0.0 for a pause that is not a skip)."""
        self.skipped_steps.assign_add(counted)
        self.consecutive_skips.assign_add(counted)

    def record_update(self):
        """Ends a run of skips: an update was applied."""
        self.consecutive_skips.assign(0.0)

    def load_own_variables(self, store):
        # Weights and checkpoints written before the guard existed have no entry for it;
        # they load with the counters at zero instead of refusing a months-long run.
        if len(store.keys()) == 0:
            return
        super().load_own_variables(store)


class LatentVariableModel(keras.Model):
    """A latent-variable model p(x, z) = p(z) p(x|z) with amortised posterior q(z|x).

    Subclasses define the networks and implement `_encode`, `_decode`, `_prior` and the
    `noise_dim` / `latent_shape` properties; hierarchical models override
    `_elbo_terms` and `_log_importance_weights`. Everything else is shared: the ELBO and
    importance-weighted bound, sampling from standard-normal noise, the training and
    evaluation steps with their metrics, KL warm-up, free bits and serialization.

    Objective (per batch, minimised):
      loss = -E_batch[log p(x|z)] + w_t * sum_j max(lambda, E_batch[KL_j]),
      z ~ q(z|x) reparameterised, w_t = beta * min(1, t / kl_warmup_steps), lambda =
      free_bits. With beta = 1, no warm-up and no free bits, loss = -ELBO.

    Metrics reported by `fit`/`evaluate`: `loss`, `reconstruction` (-log p(x|z)), `kl`
    (the unweighted KL), `active_units` (latent dimensions whose batch-mean KL exceeds
    `active_unit_threshold` nats) and `skipped_steps`; models with latent groups add
    `kl_<group>` and `active_units_<group>`, and with clipping or skipping `grad_norm`.

    Update guard: a step whose loss is not finite is never applied; it is skipped and
    counted in `skipped_steps`. With clipping or a skip threshold, which need the
    gradient norm anyway, a step whose gradient norm is not finite is skipped too. With
    `skip_threshold`, a step whose gradient norm exceeds it is skipped too, unless
    `max_consecutive_skips` steps in a row were already skipped: then the (clipped)
    update is applied, so training cannot stall.

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
      seed: int or None. Seed of the training noise; with a fixed seed the same data gives
        the same updates. Defaults to None (fresh entropy). The initial weights come from
        Keras' global seed: call `keras.utils.set_random_seed` before building the model
        for a run that repeats bitwise (`vaezoo train --seed` does both).
      gradient_clip_norm: float or None. Clip each step's gradients to this global norm
        (under a distribution strategy, each replica's). Defaults to None.
      skip_threshold: float or None. Skip steps whose gradient norm (before clipping)
        exceeds this [3]. Defaults to None.
      max_consecutive_skips: int. Threshold skips allowed in a row before an update is
        forced. Defaults to 10.
      skip_nonfinite: bool. Skip (and count) steps whose loss (or, with clipping or a
        threshold, gradient norm) is NaN/inf. Defaults to True; False applies every
        update unconditionally.

    References:
      [1] Higgins et al. beta-VAE: Learning basic visual concepts with a constrained
          variational framework. ICLR 2017.
      [2] Kingma et al. Improved variational inference with inverse autoregressive flow.
          NeurIPS 2016.
      [3] Child. Very deep VAEs generalize autoregressive models and can outperform them
          on images. ICLR 2021.
    """

    def __init__(self, input_shape, likelihood="bernoulli", beta=1.0, kl_warmup_steps=0,
                 free_bits=0.0, active_unit_threshold=0.01, seed=None, gradient_clip_norm=None,
                 skip_threshold=None, max_consecutive_skips=10, skip_nonfinite=True, **kwargs):
        super().__init__(**kwargs)
        self.data_shape = validation.shape_tuple("input_shape", input_shape)
        self.likelihood_arg = likelihood
        self.likelihood = likelihoods.get(likelihood)
        self.beta = validation.non_negative_float("beta", beta)
        self.kl_warmup_steps = validation.non_negative_int("kl_warmup_steps", kl_warmup_steps)
        self.free_bits = validation.non_negative_float("free_bits", free_bits)
        self.active_unit_threshold = validation.non_negative_float(
            "active_unit_threshold", active_unit_threshold)
        if seed is not None:
            validation.non_negative_int("seed", seed)
        self.seed = seed
        self.gradient_clip_norm = None if gradient_clip_norm is None else \
            validation.positive_float("gradient_clip_norm", gradient_clip_norm)
        self.skip_threshold = None if skip_threshold is None else \
            validation.positive_float("skip_threshold", skip_threshold)
        self.max_consecutive_skips = validation.non_negative_int(
            "max_consecutive_skips", max_consecutive_skips)
        if not isinstance(skip_nonfinite, bool):
            raise TypeError(f"skip_nonfinite must be a bool. Received: skip_nonfinite={skip_nonfinite!r}")
        self.skip_nonfinite = skip_nonfinite
        # The training noise is stateless: a function of (seed, step, replica), so a run
        # resumed from a checkpoint draws what the uninterrupted run would have drawn.
        base = seed if seed is not None else int(np.random.default_rng().integers(2**31 - 1))
        self._base_seed = tf.constant([base, 0x5EED], dtype=tf.int32)
        # Terms every step reports, in one metric (see `zoo.metrics.TermMeans`). The
        # gradient norm has its own: evaluation steps have none.
        self.term_tracker = metrics.TermMeans(
            ("loss", "reconstruction", "kl", "active_units"), name="terms")
        self.grad_norm_tracker = keras.metrics.Mean(name="grad_norm")
        self.group_tracker = None
        self.update_guard = UpdateGuardState(name="update_guard")
        self._denoisers = {}  # (rows, noise) -> _LatentMapFit, see `denoise`

    # ------------------------------------------------------------------ to implement
    @property
    def noise_dim(self):
        """Size of the standard-normal noise `sample_from_noise` turns into a sample."""
        raise NotImplementedError

    @property
    def latent_shape(self):
        """Shape of one latent code, as taken by `decode`."""
        raise NotImplementedError

    def _encode(self, x, training=False):
        raise NotImplementedError

    def _decode(self, z, training=False):
        raise NotImplementedError

    def _prior(self):
        raise NotImplementedError

    def _features(self, x):
        """The encoder's deterministic features of `x`, flattened: `[batch, feature_dim]`."""
        raise NotImplementedError

    def _latent_from_noise(self, eps):
        """Maps standard-normal noise `[n, noise_dim]` to latent codes distributed as p(z)."""
        return eps

    @property
    def latent_groups(self):
        """`((name, size), ...)` splitting `kl_dims` into reported groups, or None."""
        return None

    #: Whether `kl_dims` holds one KL per latent dimension. False for a prior the KL
    #: does not factorise over (a flow prior), whose `kl_dims` is the total in one column.
    kl_splits_by_dimension = True

    # ------------------------------------------------------------------ shared math
    def _elbo_terms(self, x, seed, training=False):
        """One-sample ELBO pieces for a batch, as `ElboTerms`."""
        posterior = self._encode(x, training=training)
        z = posterior.sample(seed=seed)  # [batch, latent]
        kl = losses.kl_units(posterior, self._prior(), z)
        return ElboTerms(self._decode(z, training=training).log_prob(x), kl, kl, posterior.mean())

    def _log_importance_weights(self, x, num_samples, seed):
        """log w = log p(x|z) + log p(z) - log q(z|x) for `num_samples` z ~ q: `[k, batch]`."""
        posterior = self._encode(x)
        z = posterior.sample(num_samples, seed=seed)  # [k, batch, latent]
        log_q = posterior.log_prob(z)  # [k, batch]
        log_prior = self._prior().log_prob(z)  # [k, batch]
        batch = tf.shape(x)[0]
        flat_z = tf.reshape(z, tf.concat([[num_samples * batch], tf.shape(z)[2:]], 0))
        log_px = tf.reshape(self._decode(flat_z).log_prob(tile_samples(x, num_samples)),
                            [num_samples, batch])
        return log_px + log_prior - log_q

    def _latent_mean(self, x):
        """The posterior mean of `x` as a latent code `decode` takes (all groups)."""
        return self._encode(x).mean()

    def _posterior_sample(self, x, seed):
        """One z ~ q(z|x) per example, as taken by `_decode`."""
        return self._encode(x).sample(seed=seed)

    def _log_importance_weight(self, x, z):
        """log p(x|z) + log p(z) - log q(z|x) at given latents `z`, `[batch]`."""
        return self._decode(z).log_prob(x) + self._log_prior_ratio(x, z)

    def _log_prior(self, z):
        """log p(z) per example for latent codes `[batch, *latent_shape]`."""
        return self._prior().log_prob(z)

    def _log_prior_ratio(self, x, z):
        """log p(z) - log q(z|x) for latents `z` `[batch, ...]` or `[k, batch, ...]`."""
        return self._log_prior(z) - self._encode(x).log_prob(z)

    def _impute_importance(self, x, observed, fills, num_samples, seed):
        """Importance-weighted E[x_mis | x_obs] with the chains' posteriors as a mixture
        proposal (see `zoo.imputation`); returns (the estimate, one draw per chain by
        sampling-importance-resampling, `[chains, batch, ...]`)."""
        num_chains, batch = tf.shape(fills)[0], tf.shape(x)[0]
        per_chain = num_samples // num_chains
        seeds = tf.random.experimental.stateless_split(seed, num=3)
        # per_chain proposals from each chain's posterior: [chains * per_chain, batch, ...].
        flat_fills = tf.reshape(fills, tf.concat([[num_chains * batch], tf.shape(x)[1:]], 0))
        flat_z = self._posterior_sample(tile_samples(flat_fills, per_chain), seeds[0])
        k = per_chain * num_chains
        z = tf.reshape(flat_z, tf.concat([[k, batch], tf.shape(flat_z)[1:]], 0))
        ratios = tf.map_fn(lambda fill: self._log_prior_ratio(fill, z), fills,
                           fn_output_signature=tf.float32)  # [C, k, batch]
        p_x = self._decode(flat_z)
        # Element-wise log-probabilities of the observed entries only.
        per_entry = p_x.distribution.log_prob(tile_samples(x, k))
        weight = tf.cast(tile_samples(observed, k), per_entry.dtype)
        axes = tf.range(1, tf.rank(per_entry))
        log_p_obs = tf.reshape(tf.reduce_sum(per_entry * weight, axis=axes), [k, batch])
        log_w = imputation.mixture_log_weights(log_p_obs, ratios)
        means = tf.reshape(p_x.mean(), tf.concat([[k, batch], tf.shape(x)[1:]], 0))
        estimate = imputation.importance_weighted_mean(log_w, means)
        # Resampling: draw a proposal index per chain by weight, then x_mis ~ p(x | z).
        picks = tf.random.stateless_categorical(tf.transpose(log_w), num_chains, seeds[1])  # [batch, C]
        # chosen[c, b] = z[picks[b, c], b]
        idx = tf.stack([tf.transpose(picks), tf.tile(tf.range(batch, dtype=picks.dtype)[None],
                                                     [num_chains, 1])], axis=-1)  # [C, batch, 2]
        chosen = tf.gather_nd(z, idx)
        draws = self._decode(tf.reshape(chosen, tf.concat([[num_chains * batch], tf.shape(chosen)[2:]], 0)))
        draws = tf.reshape(draws.sample(seed=seeds[2]), tf.shape(fills))
        # tf.where broadcasts the observed entries `[batch, ...]` over the chains.
        return imputation.merge(observed, x, estimate), imputation.merge(observed, x, draws)

    def _impute(self, x, observed, num_iterations, num_chains, metropolis, seed):
        """Runs `num_chains` imputation chains per example (see `zoo.imputation`) as one
        batch; returns (the last x of every chain `[chains, batch, ...]`, the mean of the
        decoder means over the chains' second halves `[batch, ...]`)."""
        batch = tf.shape(x)[0]
        x_all, observed_all = tile_samples(x, num_chains), tile_samples(observed, num_chains)
        x_hat = imputation.initial_fill(x_all, observed_all)
        z = self._posterior_sample(x_hat, tf.random.experimental.stateless_fold_in(seed, -1))
        burn_in = num_iterations // 2
        mean_sum = tf.zeros_like(x_all)
        for i in tf.range(num_iterations):
            seeds = tf.random.experimental.stateless_split(
                tf.random.experimental.stateless_fold_in(seed, i), num=3)
            proposal = self._posterior_sample(x_hat, seeds[0])
            # Metropolis-within-Gibbs burns in with pseudo-Gibbs steps: from the crude
            # initial fill, independence proposals are almost never accepted and the chain
            # would sit where it started. Only the second half, all exact MH steps, counts.
            if metropolis and i >= burn_in:
                accept = imputation.metropolis_accept(self._log_importance_weight(x_hat, proposal),
                                                      self._log_importance_weight(x_hat, z), seeds[1])
                z = imputation.select(accept, proposal, z)
            else:
                z = proposal
            p_x = self._decode(z)
            if i >= burn_in:
                mean_sum += p_x.mean()
            x_hat = imputation.merge(observed_all, x_all, p_x.sample(seed=seeds[2]))
        steps = tf.cast((num_iterations - burn_in) * num_chains, x.dtype)
        chain_shape = tf.concat([[num_chains, batch], tf.shape(x)[1:]], 0)
        mean = tf.reduce_sum(tf.reshape(mean_sum, chain_shape), axis=0) / steps
        return tf.reshape(x_hat, chain_shape), imputation.merge(observed, x, mean)

    def _reconstruct(self, x):
        return self._decode(self._latent_mean(x)).mean()

    def _embed(self, x):
        return self._encode(x).mean()

    def _sample_from_noise(self, eps):
        return self._decode(self._latent_from_noise(eps)).mean()

    def _active_units(self, terms):
        """Latent dimensions in use in this batch: batch-mean KL above the threshold."""
        return losses.active_units(terms.kl_dims, self.active_unit_threshold)

    def _kl_term(self, kl_units, step):
        """The KL part of the loss: warm-up weight times the free-bits penalty."""
        weight = losses.kl_weight(step, self.beta, self.kl_warmup_steps)
        return weight * losses.kl_penalty(kl_units, self.free_bits)

    def _objective(self, x, seed, step, training):
        """The training loss and the numbers the metrics track, for one batch."""
        terms = self._elbo_terms(x, seed, training=training)
        reconstruction = -tf.reduce_mean(terms.log_px)
        result = {
            "loss": reconstruction + self._kl_term(terms.kl_units, step),
            "reconstruction": reconstruction,
            "kl": tf.reduce_mean(tf.reduce_sum(terms.kl_units, axis=-1)),
            "active_units": self._active_units(terms),
        }
        if self.latent_groups:
            sizes = [size for _, size in self.latent_groups]
            for (name, _), kl in zip(self.latent_groups, tf.split(terms.kl_dims, sizes, axis=-1)):
                result[f"kl_{name}"] = tf.reduce_mean(tf.reduce_sum(kl, axis=-1))
                result[f"active_units_{name}"] = losses.active_units(kl, self.active_unit_threshold)
        return result

    def _make_group_trackers(self):
        """Creates the per-group metrics; subclasses with `latent_groups` call it."""
        if self.latent_groups:
            self.group_tracker = metrics.TermMeans(
                [key for name, _ in self.latent_groups
                 for key in (f"kl_{name}", f"active_units_{name}")], name="group_terms")

    # ------------------------------------------------------------------ Keras hooks
    def call(self, inputs, training=False):
        """Reconstruction of `inputs`: the decoder mean at the posterior mean."""
        return self._reconstruct(tf.cast(inputs, tf.float32))

    @property
    def metrics(self):
        trackers = [self.term_tracker]
        if self.group_tracker is not None:
            trackers.append(self.group_tracker)
        if self.gradient_clip_norm or self.skip_threshold:
            trackers.append(self.grad_norm_tracker)
        return trackers

    def _step_seed(self, step, stream):
        seed = tf.random.experimental.stateless_fold_in(self._base_seed, stream)
        seed = tf.random.experimental.stateless_fold_in(seed, tf.cast(step, tf.int64))
        replica = tf.distribute.get_replica_context()
        if replica is not None:  # distinct noise on each replica of a distributed step
            seed = tf.random.experimental.stateless_fold_in(seed, replica.replica_id_in_sync_group)
        return seed

    def _update_metrics(self, terms, x):
        batch = tf.cast(tf.shape(x)[0], tf.float32)
        logs = {}
        for tracker in self.metrics:
            if isinstance(tracker, metrics.TermMeans):
                tracker.update_state(terms, sample_weight=batch)
            elif tracker.name in terms:
                tracker.update_state(terms[tracker.name], sample_weight=batch)
            result = tracker.result()
            logs.update(result if isinstance(result, dict) else {tracker.name: result})
        logs["skipped_steps"] = tf.convert_to_tensor(self.update_guard.skipped_steps)
        return logs

    def _guarded_update(self, gradients, variables=None, optimizer=None, pause=None, loss=None):
        """Clips, then applies or skips one update (see the class docstring).

        Args:
          gradients: list of tensors, one per variable.
          variables: the variables. Defaults to `self.trainable_variables`.
          optimizer: the optimizer. Defaults to `self.optimizer`.
          pause: optional boolean scalar: do not update this step, without counting it as
            a skip (VAE-GAN's equilibrium gate).
          loss: optional scalar loss of the step. Without clipping or a skip threshold,
            the non-finite check looks at it instead of the gradient norm, and the norm
            is not computed. The loss is known before backprop starts; the `tf.cond`
            is lowered to a switch per input, so each variable's update starts as soon
            as its own gradient exists. A predicate on the global norm has to wait for
            every gradient, and backprop inside the branch was slower too: each cost
            2-3 % of a small MLP's training throughput (benchmarks/throughput.py).

        Returns:
          The gradient norm (per replica, rescaled to the replica's own mean loss), or
          None when the loss decides alone and nothing needs the norm.
        """
        variables = self.trainable_variables if variables is None else variables
        optimizer = self.optimizer if optimizer is None else optimizer
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
            # It skips non-finite steps itself and must see them to lower its scale.
            optimizer.apply_gradients(zip(gradients, variables))
            return tf.linalg.global_norm(gradients) / optimizer.dynamic_scale * replicas
        if loss is not None and not (self.gradient_clip_norm or self.skip_threshold):
            norm = None
            skip = tf.logical_not(tf.math.is_finite(loss))
        else:  # the norm is needed anyway (clipping, threshold) or there is no loss
            # Each replica's gradient is of loss / replicas: rescale to the gradient of
            # its own mean loss, comparable with a single-device norm.
            norm = tf.linalg.global_norm(gradients) * replicas
            skip = tf.logical_not(tf.math.is_finite(norm))
        state = self.update_guard
        if self.skip_threshold:
            allowed = state.consecutive_skips < float(self.max_consecutive_skips)
            skip = skip | ((norm > self.skip_threshold) & allowed)
        if self.gradient_clip_norm:
            gradients, _ = tf.clip_by_global_norm(
                gradients, self.gradient_clip_norm / replicas, use_norm=norm / replicas)
        if not (self.skip_nonfinite or self.skip_threshold or pause is not None):
            optimizer.apply_gradients(zip(gradients, variables))  # unguarded: no cond
            return norm
        context = tf.distribute.get_replica_context()
        paused = tf.constant(False) if pause is None else pause
        if replicas > 1 and context is not None:  # skip everywhere if any replica must
            flags = context.all_reduce(tf.distribute.ReduceOp.SUM,
                                       tf.stack([tf.cast(skip, tf.float32), tf.cast(paused, tf.float32)]))
            skip, paused = flags[0] > 0, flags[1] > 0

        def on_skip():
            state.record_skip(tf.cast(skip, tf.float32))  # a pause alone is not a skip

        def apply(grads):
            optimizer.apply_gradients(zip(grads, variables))
            state.record_update()

        apply_unless(apply, skip | paused, gradients, on_skip)
        return norm

    def train_step(self, data):
        x = tf.cast(keras.utils.unpack_x_y_sample_weight(data)[0], tf.float32)
        step = self.optimizer.iterations
        with tf.GradientTape() as tape:
            terms = self._objective(x, self._step_seed(step, 0), step, training=True)
            loss = terms["loss"]
            if self.losses:
                loss = loss + tf.add_n(self.losses)
            # Gradients are summed over replicas: scale so their sum is the mean gradient.
            replicas = tf.distribute.get_strategy().num_replicas_in_sync
            scaled = self.optimizer.scale_loss(loss / replicas)
        gradients = tape.gradient(scaled, self.trainable_variables)
        norm = self._guarded_update(gradients, loss=scaled)
        if norm is not None:
            terms["grad_norm"] = norm
        return self._update_metrics(terms, x)

    def test_step(self, data):
        x = tf.cast(keras.utils.unpack_x_y_sample_weight(data)[0], tf.float32)
        step = self.optimizer.iterations if self.optimizer is not None else 0
        terms = self._objective(x, self._step_seed(0, 1), step, training=False)
        return self._update_metrics(terms, x)

    def compile(self, *args, **kwargs):
        super().compile(*args, **kwargs)
        self._build_optimizers()

    def compile_from_config(self, config):
        """Recompiles a loaded model, its optimizers built, so their state loads next.

        Keras skips this step for models that override `compile`, as these do."""
        self.compile(**keras.saving.deserialize_keras_object(config))

    def _optimizers(self):
        """(optimizer, the weights it trains) pairs: one optimizer for every weight."""
        return [(self.optimizer, self.trainable_variables)]

    def _build_optimizers(self):
        """Creates the optimizers' slots now, as `compile_from_config` does on loading.

        Otherwise, without a distribution strategy, Keras builds the optimizer inside the
        first trace of the train step; a `tf.function` that creates variables is traced
        twice, which made the first `fit` of a model about twice as slow
        (benchmarks/first_fit.py). Every model here creates its weights in its
        constructor, so they all exist at this point."""
        for optimizer, variables in self._optimizers():
            if optimizer is not None and not optimizer.built:
                optimizer.build(variables)

    def fit(self, x=None, *args, **kwargs):
        self._check_training_data("x", x)
        if isinstance(x, tf.data.Dataset):
            kwargs.setdefault("shuffle", False)  # datasets shuffle themselves (zoo.data does)
        if kwargs.get("validation_data") is not None:
            self._check_training_data("validation_data", kwargs["validation_data"])
        distribute.prepare_for(getattr(self, "distribute_strategy", None))
        return super().fit(x, *args, **kwargs)

    def evaluate(self, x=None, *args, **kwargs):
        self._check_training_data("x", x)
        distribute.prepare_for(getattr(self, "distribute_strategy", None))
        return super().evaluate(x, *args, **kwargs)

    def _check_training_data(self, name, data):
        """Checks shape/dtype of a dataset's spec or an array before Keras sees it."""
        if isinstance(data, tf.data.Dataset):
            spec = data.element_spec
            x_spec = spec[0] if isinstance(spec, tuple) else spec
            if not isinstance(x_spec, tf.TensorSpec):
                raise TypeError(
                    f"{name} must yield tensors or (x, y) tuples. Received element_spec={spec}")
            if not (x_spec.dtype.is_floating or x_spec.dtype.is_integer or x_spec.dtype == tf.bool):
                raise TypeError(
                    f"{name} must yield numeric data. Received: dtype {x_spec.dtype.name}")
            shape = tuple(x_spec.shape)
            expected = (None, *self.data_shape)
            if len(shape) != len(expected) or any(
                s is not None and s != e for s, e in zip(shape[1:], expected[1:])
            ):
                raise ValueError(
                    f"{name} must yield batches of shape [batch, {', '.join(map(str, self.data_shape))}]. "
                    f"Received: element shape {list(shape)}. Batch the dataset with "
                    f"`.batch(n)` if it yields single examples."
                )
            if data.cardinality() == 0:
                raise ValueError(f"{name} is empty. Received: a dataset with 0 batches")
        elif data is not None and not isinstance(data, (tuple, list, dict)) \
                and not hasattr(data, "__next__"):
            self._check_x(name, data)

    # ------------------------------------------------------------------ public API
    def _check_x(self, name, x):
        x = validation.check_data(name, x, self.data_shape, self.likelihood.support)
        if tf.executing_eagerly():
            self.likelihood.check_values(name, x.numpy())
        return x

    def encode(self, x):
        """Returns q(z|x), a `tfd.Distribution` with batch shape `[batch]`."""
        return self._encode(self._check_x("x", x))

    def decode(self, z):
        """Returns p(x|z), a `tfd.Distribution` with batch `[batch]` and event `input_shape`."""
        return self._decode(validation.check_data("z", z, self.latent_shape))

    def reconstruct(self, x):
        """Decoder mean at the posterior mean of `x`, shape `[batch, *input_shape]`."""
        return self._reconstruct_fn(self._check_x("x", x))

    def embed(self, x):
        """Posterior mean E_q[z|x] for downstream tasks, shape `[batch, *latent_shape]`."""
        return self._embed_fn(self._check_x("x", x))

    def features(self, x):
        """The encoder's deterministic features of `x`, before the posterior head,
        flattened to one float32 vector per example: `[batch, feature_dim]`.

        Wider than `embed` (thousands of numbers for a convolutional encoder, against
        tens of latents) and not squeezed through the KL, so they keep detail the
        posterior drops; `zoo.anomaly`'s "feature_knn" score compares them. For an HVAE,
        the bottom-up features of every stage, concatenated.
        """
        return self._features_fn(self._check_x("x", x))

    def sample_from_noise(self, eps):
        """Decoder mean for latents made from standard-normal `eps` `[n, noise_dim]`.

        Deterministic given `eps`; the same graph is what `export` ships, so Keras,
        SavedModel and TFLite can be compared on identical noise.
        """
        return self._sample_fn(validation.check_vectors("eps", eps, self.noise_dim))

    def sample(self, num_samples, seed=None, temperature=1.0):
        """Draws `num_samples` images: `sample_from_noise(temperature * eps)`, eps ~ N(0, I)."""
        num_samples = validation.positive_int("num_samples", num_samples)
        temperature = validation.non_negative_float("temperature", temperature)
        eps = tf.random.stateless_normal([num_samples, self.noise_dim], seed=_seed_tensor(seed))
        return self._sample_fn(eps * temperature)

    def elbo(self, x, num_samples=1, seed=None):
        """Per-example ELBO in nats, `[batch]`; averaged over `num_samples` posterior draws."""
        x = self._check_x("x", x)
        num_samples = validation.positive_int("num_samples", num_samples)
        seeds = tfp.random.split_seed(_seed_tensor(seed), n=num_samples)
        return tf.add_n([self._elbo_fn(x, s) for s in seeds]) / num_samples

    def elbo_terms(self, x, seed=None):
        """One-sample ELBO pieces per example, for monitoring KL and posterior collapse.

        Returns a dict of tensors: `reconstruction` (-log p(x|z), `[batch]`), `kl`
        (`[batch]`), `kl_units` (`[batch, units]`: per latent dimension for a VAE, per
        group for a hierarchy) and `kl_dims` (`[batch, latent dims]`).
        """
        terms = self._terms_fn(self._check_x("x", x), _seed_tensor(seed))
        return {"reconstruction": -terms.log_px, "kl": tf.reduce_sum(terms.kl_units, axis=-1),
                "kl_units": terms.kl_units, "kl_dims": terms.kl_dims}

    #: Decoder evaluations per pass of importance-weighted imputation (memory bound).
    IMPUTE_PASS_SIZE = 8192
    #: Importance proposals per chain when `impute(method="importance")` gets no num_samples.
    IMPUTE_PROPOSALS_PER_CHAIN = 16

    def impute(self, x, mask, num_iterations=100, method="pseudo_gibbs", num_chains=8,
               seed=None, return_samples=False, num_samples=None):
        """Fills in the unobserved entries of `x` (where `mask` is 0) from the model.

        Runs an imputation chain that keeps the observed entries fixed and alternates
        z given the current x with the missing entries given z: "pseudo_gibbs" (z drawn
        from q) or "metropolis_within_gibbs" (q as a Metropolis-Hastings proposal, which
        samples the model's exact conditional p(x_mis | x_obs); see `zoo.imputation`).

        Args:
          x: array `[batch, *input_shape]`. Missing entries may hold anything, NaN
            included; they are never read.
          mask: array of the same shape, 1 (or True) = observed, 0 = missing.
          num_iterations: int. Chain steps. Defaults to 100.
          method: str. "pseudo_gibbs", "metropolis_within_gibbs", or "importance":
            pseudo-Gibbs chains followed by a self-normalised importance-sampling
            estimate of E[x_mis | x_obs] with the exact likelihood of the observed
            part, proposing from the mixture of the chains' posteriors (see
            `zoo.imputation`). The chains' bias does not carry over into it.
          num_chains: int. Independent chains per example, run side by side. A single
            chain tends to settle on one completion (one digit, say) and stay there;
            averaging several covers the alternatives and lowers the squared error
            of the estimate. Costs `num_chains` times one chain. Defaults to 8. Large
            contiguous holes have many plausible completions and need more: with the
            bottom half of MNIST digits hidden, 32 chains took "importance" with the
            flow-prior preset below KNN's squared error (0.92x), and the plain VAE
            preset level with it (README, Imputation).
          seed: int or None. Seed of the chains.
          return_samples: bool. Return each chain's last sample of the missing entries
            instead of their expected value (with "importance": `num_chains` draws by
            sampling-importance-resampling). Defaults to False.
          num_samples: int. Importance proposals per example for "importance", split
            evenly over the chains (rounded down to a multiple of `num_chains`).
            Defaults to 16 per chain.

        Returns:
          A float32 tensor shaped like `x`: the observed entries exactly as given, the
          missing ones filled in. By default each missing entry is the average of the
          decoder means over the second half of every chain (the first half is burn-in):
          a Monte Carlo estimate of E[x_mis | x_obs], the imputation with the least
          expected squared error. With `return_samples`, `[num_chains, *x.shape]`:
          draws of x_mis (one per chain) with the observed entries in place.
        """
        if method not in imputation.METHODS:
            raise ValueError(f"method must be one of {list(imputation.METHODS)}. "
                             f"Received: method={method!r}")
        num_iterations = validation.positive_int("num_iterations", num_iterations)
        num_chains = validation.positive_int("num_chains", num_chains)
        observed = validation.check_mask("mask", mask, (None, *self.data_shape))
        raw = validation.to_float_tensor("x", x).numpy()
        if raw.shape != observed.shape:
            raise ValueError(f"mask must have the shape of x. Received: mask.shape="
                             f"{list(observed.shape)}, x.shape={list(raw.shape)}")
        if num_samples is None:
            num_samples = self.IMPUTE_PROPOSALS_PER_CHAIN * num_chains
        num_samples = validation.positive_int("num_samples", num_samples)
        if method == "importance" and num_samples < num_chains:
            raise ValueError(f"num_samples must be at least num_chains ({num_chains}) for "
                             f"method='importance'. Received: num_samples={num_samples}")
        x = self._check_x("x", np.where(observed, raw, 0.0))  # missing entries are never read
        observed = tf.constant(observed)
        args = (x, observed, tf.constant(num_iterations), tf.constant(num_chains))
        if method == "importance":
            # Passes of at most ~8k decoder evaluations bound the memory, as in
            # `log_likelihood`; each pass gets its own seed.
            chunk, seed = max(1, self.IMPUTE_PASS_SIZE // num_samples), _seed_tensor(seed)
            parts = [self._impute_importance_fn(
                x[start:start + chunk], observed[start:start + chunk], *args[2:],
                tf.constant(num_samples), tf.random.experimental.stateless_fold_in(seed, start))
                for start in range(0, int(x.shape[0]), chunk)]
            mean = tf.concat([p[0] for p in parts], axis=0)
            x_hat = tf.concat([p[1] for p in parts], axis=1)
        else:
            x_hat, mean = self._impute_fn(*args, method == "metropolis_within_gibbs",
                                          _seed_tensor(seed))
        return x_hat if return_samples else mean

    def denoise(self, y, noise="gaussian", noise_scale=0.1, num_steps=200, learning_rate=0.05,
                batch_size=500):
        """Denoises `y` by a MAP fit of the latent code under a noise model.

        Reconstructing a noisy input (`reconstruct`) trusts the encoder, which never saw
        noise and maps noisy inputs to wrong codes. Here the noise is part of the model:
        y = mu(z) + noise, with mu(z) the decoder mean, and z maximises
            log p(z) + log p_noise(y | mu(z))
        by Adam from the encoder's code, for `num_steps` steps. The result is mu(z*):
        the closest clean input the model can generate, weighed against its prior.

        Args:
          y: array `[batch, *input_shape]`, the noisy data (in the likelihood's support).
          noise: str. "gaussian" (`tfd.Normal(mu, noise_scale)`: additive noise) or
            "laplace" (`tfd.Laplace(mu, noise_scale)`: heavy tails, for impulse noise
            such as salt-and-pepper). Defaults to "gaussian".
          noise_scale: float. The noise's standard deviation (gaussian) or scale
            (laplace), in data units. Defaults to 0.1.
          num_steps: int. Adam steps. Defaults to 200.
          learning_rate: float. Adam's step size in latent units. Defaults to 0.05.
          batch_size: int. Examples per optimisation. Defaults to 500.

        Returns:
          float32 `[batch, *input_shape]`, the denoised data.
        """
        noise = validation.one_of("noise", noise, NOISE_MODELS)
        noise_scale = validation.positive_float("noise_scale", noise_scale)
        num_steps = validation.positive_int("num_steps", num_steps)
        learning_rate = validation.positive_float("learning_rate", learning_rate)
        batch_size = validation.positive_int("batch_size", batch_size)
        y = self._check_x("y", y)
        rows = min(batch_size, int(y.shape[0]))
        denoiser = self._denoisers.get((rows, noise))
        if denoiser is None:
            denoiser = self._denoisers[(rows, noise)] = _LatentMapFit(self, rows, noise)
        parts = [denoiser(y[start:start + rows], noise_scale, num_steps, learning_rate)
                 for start in range(0, int(y.shape[0]), rows)]
        return tf.concat(parts, axis=0)

    def latent_code(self, x):
        """Posterior means of `x` as latent codes for `decode`, `[batch, *latent_shape]`
        (every group of a hierarchy, unlike `embed`, which gives the top one)."""
        return self._latent_mean_fn(self._check_x("x", x))

    def anomaly_score(self, x, num_samples=1, seed=None):
        """Per-example anomaly score, higher = more anomalous: the negative ELBO in nats."""
        return -self.elbo(x, num_samples=num_samples, seed=seed)

    def log_likelihood(self, x, num_samples=1000, seed=None,
                       max_rows_per_pass=DEFAULT_MAX_ROWS_PER_PASS):
        """Importance-weighted estimate of log p(x) per example in nats, `[batch]`.

        The IWAE bound with `num_samples` posterior samples [Burda et al. 2016], computed
        in passes of at most `max_rows_per_pass` decoder rows so k = 5000 fits in memory.
        """
        x = self._check_x("x", x)
        num_samples = validation.positive_int("num_samples", num_samples)
        max_rows = validation.positive_int("max_rows_per_pass", max_rows_per_pass)
        seed = _seed_tensor(seed)
        batch = int(x.shape[0])
        rows = min(batch, max_rows)
        per_pass = max(1, max_rows // rows)
        results = []
        for start in range(0, batch, rows):
            x_part = x[start:start + rows]
            log_w = []
            for i, first in enumerate(range(0, num_samples, per_pass)):
                k = min(per_pass, num_samples - first)
                part_seed = tf.random.experimental.stateless_fold_in(seed, start * num_samples + i)
                log_w.append(self._log_weights_fn(x_part, k, part_seed))
            results.append(losses.importance_weighted_bound(tf.concat(log_w, axis=0)))
        return tf.concat(results, axis=0)

    # Compiled entry points; `reduce_retracing` keeps a varying last batch from
    # piling up traces.
    @tf.function(reduce_retracing=True)
    def _reconstruct_fn(self, x):
        return self._reconstruct(x)

    @tf.function(reduce_retracing=True)
    def _embed_fn(self, x):
        return self._embed(x)

    @tf.function(reduce_retracing=True)
    def _features_fn(self, x):
        return self._features(x)

    @tf.function(reduce_retracing=True)
    def _sample_fn(self, eps):
        return self._sample_from_noise(eps)

    @tf.function(reduce_retracing=True)
    def _impute_fn(self, x, observed, num_iterations, num_chains, metropolis, seed):
        return self._impute(x, observed, num_iterations, num_chains, metropolis, seed)

    @tf.function(reduce_retracing=True)
    def _impute_importance_fn(self, x, observed, num_iterations, num_chains, num_samples, seed):
        chain_seed, importance_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
        fills, _ = self._impute(x, observed, num_iterations, num_chains, False, chain_seed)
        return self._impute_importance(x, observed, fills, num_samples, importance_seed)

    @tf.function(reduce_retracing=True)
    def _latent_mean_fn(self, x):
        return self._latent_mean(x)

    @tf.function(reduce_retracing=True)
    def _terms_fn(self, x, seed):
        return self._elbo_terms(x, seed)

    @tf.function(reduce_retracing=True)
    def _elbo_fn(self, x, seed):
        terms = self._elbo_terms(x, seed)
        return losses.elbo(terms.log_px, tf.reduce_sum(terms.kl_units, axis=-1))

    @tf.function(reduce_retracing=True)
    def _log_weights_fn(self, x, num_samples, seed):
        return self._log_importance_weights(x, num_samples, seed)

    # ------------------------------------------------------------------ presets
    def save_to_preset(self, directory, metadata=None, overwrite=False):
        """Writes this model as a preset directory; see `zoo.presets`."""
        from zoo import presets

        return presets.save_to_preset(self, directory, metadata=metadata, overwrite=overwrite)

    @classmethod
    def from_preset(cls, preset, sha256=None, cache_dir=None, **overrides):
        """Loads a preset (name, directory or URL) holding this class or a subclass; see
        `zoo.presets.from_preset` (training-setting `overrides`, e.g. kl_warmup_steps=0)."""
        from zoo import presets

        return presets.from_preset(preset, cls=cls, sha256=sha256, cache_dir=cache_dir, **overrides)

    # ------------------------------------------------------------------ config
    def get_config(self):
        likelihood = self.likelihood_arg
        if not isinstance(likelihood, str):
            likelihood = keras.saving.serialize_keras_object(self.likelihood)
        return {
            "name": self.name,
            "trainable": self.trainable,
            "input_shape": self.data_shape,
            "likelihood": likelihood,
            "beta": self.beta,
            "kl_warmup_steps": self.kl_warmup_steps,
            "free_bits": self.free_bits,
            "active_unit_threshold": self.active_unit_threshold,
            "seed": self.seed,
            "gradient_clip_norm": self.gradient_clip_norm,
            "skip_threshold": self.skip_threshold,
            "max_consecutive_skips": self.max_consecutive_skips,
            "skip_nonfinite": self.skip_nonfinite,
        }

