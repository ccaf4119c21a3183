"""The hierarchical VAE: a top-down latent hierarchy (Ladder VAE / NVAE style)."""

import math

import keras
import tensorflow as tf
import tensorflow_probability as tfp

from zoo import networks, validation
from zoo.hvae.hvae_layers import GaussianHead, LearnedState, soft_clamp
from zoo.losses import ElboTerms, tile_samples
from zoo.model import LatentVariableModel
from zoo.training import schedules

tfd = tfp.distributions


@keras.saving.register_keras_serializable(package="vaezoo")
class HVAE(LatentVariableModel):
    """Hierarchical VAE with a top-down generative path shared with inference.

    "H" is for *hierarchical*, not Hamiltonian (Pythae's `HVAE` is a Hamiltonian VAE).

    A bottom-up network computes features of x at `len(hidden_dims)` stages. The
    top-down path starts from a learned state at the top stage and visits the latent
    groups z_L, ..., z_1 from top to bottom (`groups_per_stage` per stage). At group l
    the state s_l gives the prior p(z_l | z_>l) = N(mu_p(s_l), sigma_p(s_l)); the
    posterior combines the same state with the stage's bottom-up features h,
    q(z_l | x, z_>l) = N(mu_p + d_mu(s_l, h), sigma_p * exp(d_log_sigma(s_l, h))),
    a residual correction of the prior [2] that starts equal to it. The sample z_l
    joins the state through a projection and residual cells, and after the bottom
    group the state is decoded into the likelihood's parameters.

    Conditional (`num_classes`): the top-down path starts from the learned state plus a
    linear embedding of the one-hot label (broadcast over positions). Every conditional
    prior p(z_l | z_>l, y), every posterior and the likelihood then see the class through
    the state they already read, at one matrix's cost; the bottom-up path stays
    label-free.

    Math:
      ELBO(x) = E_q[log p(x | z)] - sum_l E_q[KL(q(z_l | x, z_>l) || p(z_l | z_>l))],
      each KL in closed form between diagonal Gaussians at the sampled z_>l [1, 2].
      The importance-weighted bound uses log w = log p(x|z) + sum_l [log p(z_l|z_>l) -
      log q(z_l|x, z_>l)].

    Stabilisers (each optional): KL warm-up (`kl_warmup_steps`), free bits per group
    (`free_bits`: the floor acts on each group's batch-mean KL), KL balancing across
    groups during warm-up (`kl_balancing`, `zoo.training.schedules`), softly
    clamped means and log-scales (`soft_clamp`), gradient clipping with update skipping
    (`gradient_clip_norm`, `skip_threshold`, `max_consecutive_skips`, see
    `zoo.LatentVariableModel`), and EMA weights for evaluation through the optimizer
    (`keras.optimizers.Adamax(use_ema=True)`; `fit` leaves the averaged weights).

    Latents and noise: the latent code (what `decode` takes) and the noise (what
    `sample_from_noise` takes) are both flat vectors of `noise_dim` = the sum of the
    group sizes, groups in generation order (top first). Sampling sets
    z_l = mu_p + sigma_p * eps_l, so `temperature` scales every group's noise.
    `encode(x)` returns the posterior of the top group, q(z_L | x), which alone does not
    depend on other latents; `embed(x)` is its mean.

    Args:
      input_shape: tuple of ints. Shape of one example.
      latent_dims: int or list of ints. Latent units (MLP) or channels of the latent map
        (conv) of each group, per stage from the bottom. Defaults to (32, 16) for "mlp",
        (4, 8) for "conv".
      network: str. "mlp" or "conv". Defaults to "mlp".
      hidden_dims: list of ints. Width (MLP) or channels (conv, per stride-2 stage) of
        each stage, from the bottom. Defaults to (512, 256) for "mlp", (32, 64) for "conv".
      groups_per_stage: int. Latent groups at each stage. At least 2 groups in all.
        Defaults to 1.
      num_res_blocks: int. Residual cells after each stage (bottom-up) and after each
        group (top-down). Defaults to 1.
      activation: str. Defaults to "swish".
      soft_clamp: float or None. Bound of the soft clamp on means and log-scales.
        Defaults to 5.0.
      kl_balancing: bool. Balance the groups' KL during warm-up. Defaults to False.
      min_scale: float. Floor on every latent scale. Defaults to 1e-3.
      likelihood: as `zoo.VAE`. Defaults to "bernoulli".
      **kwargs: `beta`, `kl_warmup_steps`, `free_bits`, `seed`, `gradient_clip_norm`,
        `skip_threshold`, ... (see `zoo.LatentVariableModel`).

    Example:

    ```python
    import numpy as np, zoo
    x = (np.random.rand(64, 28, 28, 1) > 0.5).astype("float32")
    model = zoo.HVAE(input_shape=(28, 28, 1), latent_dims=(8, 4), hidden_dims=(64, 32))
    model.compile(optimizer="adamax")
    model.fit(x, epochs=1, batch_size=32, verbose=0)
    images = model.sample(4, seed=0, temperature=0.8)
    ```

    References:
      [1] Sønderby et al. Ladder variational autoencoders. NeurIPS 2016.
      [2] Vahdat, Kautz. NVAE: A deep hierarchical variational autoencoder. NeurIPS 2020.
      [3] Child. Very deep VAEs generalize autoregressive models. ICLR 2021.
    """

    def __init__(self, input_shape, latent_dims=None, network="mlp", hidden_dims=None,
                 groups_per_stage=1, num_res_blocks=1, activation="swish", soft_clamp=5.0,
                 kl_balancing=False, min_scale=1e-3, likelihood="bernoulli", **kwargs):
        super().__init__(input_shape=input_shape, likelihood=likelihood, **kwargs)
        self.network = validation.one_of("network", network, networks.NETWORKS)
        if self.network == "conv" and len(self.data_shape) != 3:
            raise ValueError("network='conv' needs image data of shape (height, width, channels). "
                             f"Received: input_shape={self.data_shape}")
        self.hidden_dims = (networks.default_hidden_dims(self.network) if hidden_dims is None
                            else networks._check_dims("hidden_dims", hidden_dims))
        stages = len(self.hidden_dims)
        if latent_dims is None:
            latent_dims = (32, 16) if self.network == "mlp" else (4, 8)
            latent_dims = (latent_dims * stages)[:stages]
        elif isinstance(latent_dims, int):
            latent_dims = (latent_dims,) * stages
        self.latent_dims = networks._check_dims("latent_dims", latent_dims)
        if len(self.latent_dims) != stages:
            raise ValueError(
                f"latent_dims needs one entry per stage ({stages}, from hidden_dims). "
                f"Received: latent_dims={self.latent_dims}")
        self.groups_per_stage = validation.positive_int("groups_per_stage", groups_per_stage)
        if stages * self.groups_per_stage < 2:
            raise ValueError(
                "A hierarchy needs at least 2 latent groups (stages x groups_per_stage). "
                f"Received: {stages} stage(s) x groups_per_stage={self.groups_per_stage}")
        self.num_res_blocks = validation.non_negative_int("num_res_blocks", num_res_blocks)
        self.activation = activation
        keras.activations.get(activation)
        self.soft_clamp = None if soft_clamp is None else validation.positive_float("soft_clamp", soft_clamp)
        self.kl_balancing = bool(kl_balancing)
        self.min_scale = validation.positive_float("min_scale", min_scale)
        self._plan_groups()
        self._make_layers()
        self.likelihood.build(self.data_shape)
        # One forward pass creates every weight (each layer builds from its input).
        self._elbo_terms(tf.zeros((1, *self.data_shape)), tf.constant([0, 0], tf.int32),
                         y=tf.zeros((1, self.num_classes)) if self.num_classes else None)
        self.built = True

    # ------------------------------------------------------------------ structure
    def _stage_shape(self, stage):
        """Shape of the state / features at `stage` (without batch)."""
        if self.network == "mlp":
            return (self.hidden_dims[stage],)
        height, width = self.data_shape[:2]
        scale = 2 ** (stage + 1)
        return (math.ceil(height / scale), math.ceil(width / scale), self.hidden_dims[stage])

    def _plan_groups(self):
        """The latent groups in generation order (top first): stage, name, shape, size."""
        self._groups = []
        for stage in reversed(range(len(self.hidden_dims))):
            spatial = self._stage_shape(stage)[:-1]
            for g in reversed(range(self.groups_per_stage)):
                level = stage * self.groups_per_stage + g + 1
                shape = (*spatial, self.latent_dims[stage])
                self._groups.append({"stage": stage, "name": f"z{level}", "shape": shape,
                                     "size": math.prod(shape)})

    def _block(self, stage, name):
        units = self.hidden_dims[stage]
        if self.network == "conv":
            return networks.ResidualBlock(units, 3, self.activation, name=name)
        return networks.DenseResidualBlock(units, self.activation, name=name)

    def _layer(self, units, name, kernel=3, stride=1, activation=None):
        if self.network == "conv":
            return keras.layers.Conv2D(units, kernel, strides=stride, padding="same",
                                       activation=activation, name=name)
        return keras.layers.Dense(units, activation=activation, name=name)

    def _make_layers(self):
        act, stages, n = self.activation, len(self.hidden_dims), self.num_res_blocks
        self.flatten = keras.layers.Flatten(name="flatten")
        self.bu_down = [self._layer(self.hidden_dims[s], f"bu_down_{s}", stride=2, activation=act)
                        for s in range(stages)]
        self.bu_blocks = [self._block(s, f"bu_res_{s}_{j}") for s in range(stages) for j in range(n)]
        self.top_state = LearnedState(self._stage_shape(stages - 1), name="top_state")
        # A conditional hierarchy starts its top-down path from a class-dependent state.
        self.label_state = (keras.layers.Dense(self.hidden_dims[-1], use_bias=False, name="label_state")
                            if self.num_classes else None)
        self.prior_heads, self.posterior_heads, self.z_projections = [], [], []
        self.td_blocks = []
        for group in self._groups:
            s, name = group["stage"], group["name"]
            channels = self.latent_dims[s]
            self.prior_heads.append(GaussianHead(channels, self.hidden_dims[s], self.network,
                                                 act, name=f"prior_{name}"))
            self.posterior_heads.append(GaussianHead(channels, self.hidden_dims[s], self.network,
                                                     act, zero_init=True, name=f"posterior_{name}"))
            self.z_projections.append(self._layer(self.hidden_dims[s], f"z_proj_{name}", kernel=1))
            self.td_blocks += [self._block(s, f"td_res_{name}_{j}") for j in range(n)]
        # td_up[s] takes the state from stage s + 1 down to stage s.
        self.td_up = []
        for s in range(stages - 1):
            layers = []
            if self.network == "conv":
                layers.append(networks.NearestResize(*self._stage_shape(s)[:2], name=f"td_resize_{s}"))
            layers.append(self._layer(self.hidden_dims[s], f"td_up_{s}", activation=act))
            self.td_up.append(layers)
        num_params = self.likelihood.num_params
        if self.network == "conv":
            height, width, channels = self.data_shape
            self.output_layers = [
                networks.NearestResize(height, width, name="out_resize"),
                keras.layers.Conv2D(self.hidden_dims[0], 3, padding="same", activation=act, name="out_conv"),
                keras.layers.Conv2D(channels * num_params, 3, padding="same", name="out_head"),
            ]
        else:
            self.output_layers = [
                keras.layers.Dense(self.hidden_dims[0], activation=act, name="out_dense"),
                keras.layers.Dense(math.prod(self.data_shape) * num_params, name="out_head"),
            ]
        self.output_layers.append(keras.layers.Reshape((*self.data_shape, num_params), name="to_params"))

    # ------------------------------------------------------------------ paths
    def _bottom_up(self, x, training=False):
        """Features of `x` at each stage, bottom first."""
        h = self.likelihood.encoder_input(x)
        h = h if self.network == "conv" else self.flatten(h)
        features, n = [], self.num_res_blocks
        for s, down in enumerate(self.bu_down):
            h = down(h)
            for block in self.bu_blocks[s * n:(s + 1) * n]:
                h = block(h)
            features.append(h)
        return features

    def _features(self, x):
        return tf.concat([tf.reshape(tf.cast(h, tf.float32), [tf.shape(h)[0], -1])
                          for h in self._bottom_up(x)], axis=-1)

    def _gaussian(self, mean, log_scale):
        mean = soft_clamp(mean, self.soft_clamp)
        scale = tf.exp(soft_clamp(log_scale, self.soft_clamp)) + self.min_scale
        return mean, scale

    def _initial_state(self, reference, y):
        """The top of the top-down path: the learned state, plus the label's embedding
        (broadcast over positions) in a conditional model."""
        state = self.top_state(reference)
        if not self.num_classes:
            return state
        label = self.label_state(tf.cast(self._require_codes(y), state.dtype))
        for _ in range(len(state.shape) - 2):
            label = label[:, None]
        return state + label

    def _top_down(self, reference, features=None, latents=None, noise=None, seed=None,
                  use_mean=False, training=False, prior_groups=0, y=None):
        """Runs the top-down path and returns (likelihood parameters, per-group info).

        One source of z per group: the posterior (given `features`; sampled with
        `seed`, or its mean with `use_mean`), given `latents` (with `features` too: the
        posterior is evaluated at them), or the prior driven by standard-normal `noise`.
        Per-group info has "z", and with `features` also "kl" (closed form, per
        dimension) and "log_ratio" (log p - log q at z, per example); with `latents`
        and no `features`, "log_prior" (log p(z_l | z_<l), per example).
        `y`: the one-hot labels of a conditional model, row for row with `reference`.
        With `features` and a seed, the lowest `prior_groups` groups are drawn from their
        conditional prior instead of the posterior (and add nothing to "kl"/"log_ratio").
        """
        state = self._initial_state(reference, y)
        seeds = (tfp.random.split_seed(seed, n=len(self._groups))
                 if features is not None and not use_mean and latents is None else None)
        info = {"z": [], "kl": [], "log_ratio": [], "log_prior": []}
        n = self.num_res_blocks
        for i, group in enumerate(self._groups):
            stage = group["stage"]
            if i > 0 and stage != self._groups[i - 1]["stage"]:
                for layer in self.td_up[stage]:
                    state = layer(state)
            prior_mean, prior_scale = self._gaussian(*self.prior_heads[i](state))
            prior = tfd.Normal(prior_mean, prior_scale)
            if seeds is not None and i >= len(self._groups) - prior_groups:
                z = prior.sample(seed=seeds[i])
            elif features is not None:
                delta_mean, delta_log_scale = self.posterior_heads[i](
                    tf.concat([state, tf.cast(features[stage], state.dtype)], axis=-1))
                mean = prior_mean + soft_clamp(delta_mean, self.soft_clamp)
                scale = prior_scale * tf.exp(soft_clamp(delta_log_scale, self.soft_clamp)) + self.min_scale
                posterior = tfd.Normal(mean, scale)
                if latents is not None:  # scoring given latents under the posterior
                    z = tf.cast(latents[i], mean.dtype)
                else:
                    z = mean if use_mean else posterior.sample(seed=seeds[i])
                if not use_mean:
                    axes = list(range(1, len(group["shape"]) + 1))
                    info["kl"].append(tfd.kl_divergence(posterior, prior))
                    info["log_ratio"].append(tf.reduce_sum(prior.log_prob(z) - posterior.log_prob(z),
                                                           axis=axes))
            elif latents is not None:  # scoring given latents under the prior
                z = tf.cast(latents[i], prior_mean.dtype)
                axes = list(range(1, len(group["shape"]) + 1))
                info["log_prior"].append(tf.reduce_sum(prior.log_prob(z), axis=axes))
            else:
                z = prior_mean + prior_scale * noise[i]
            info["z"].append(z)
            state = state + self.z_projections[i](tf.cast(z, state.dtype))
            for block in self.td_blocks[i * n:(i + 1) * n]:
                state = block(state)
        h = state
        for layer in self.output_layers:
            h = layer(h)
        return h, info

    def _split(self, flat):
        """A flat `[batch, noise_dim]` vector as per-group tensors in their shapes."""
        parts = tf.split(flat, [g["size"] for g in self._groups], axis=-1)
        return [tf.reshape(p, [-1, *g["shape"]]) for p, g in zip(parts, self._groups)]

    def _flatten_groups(self, tensors):
        return tf.concat([tf.reshape(t, [tf.shape(t)[0], -1]) for t in tensors], axis=-1)

    # ------------------------------------------------------------------ base-class hooks
    @property
    def noise_dim(self):
        return sum(g["size"] for g in self._groups)

    @property
    def latent_shape(self):
        return (self.noise_dim,)

    #: The noise becomes latents through the top-down path: not the identity.
    noise_is_latent = False

    @property
    def latent_groups(self):
        return tuple((g["name"], g["size"]) for g in self._groups)

    def _encode(self, x, training=False, y=None):
        features = self._bottom_up(x, training=training)
        state = self._initial_state(x, y)
        top = self._groups[0]
        prior_mean, prior_scale = self._gaussian(*self.prior_heads[0](state))
        delta_mean, delta_log_scale = self.posterior_heads[0](
            tf.concat([state, tf.cast(features[top["stage"]], state.dtype)], axis=-1))
        mean = prior_mean + soft_clamp(delta_mean, self.soft_clamp)
        scale = prior_scale * tf.exp(soft_clamp(delta_log_scale, self.soft_clamp)) + self.min_scale
        flat = lambda t: tf.reshape(t, [tf.shape(t)[0], top["size"]])  # noqa: E731
        return tfd.Independent(tfd.Normal(flat(mean), flat(scale)), reinterpreted_batch_ndims=1)

    def _decode(self, z, training=False, y=None):
        params, _ = self._top_down(z, latents=self._split(tf.cast(z, tf.float32)),
                                   training=training, y=y)
        return self.likelihood.distribution(params)

    def latent_from_noise(self, eps, y=None):
        _, info = self._top_down(eps, noise=self._split(eps), y=y)
        return self._flatten_groups(info["z"])

    def _sample_from_noise(self, eps, y=None):
        params, _ = self._top_down(eps, noise=self._split(eps), y=y)
        return self.likelihood.distribution(params).mean()

    def _latent_mean(self, x, y=None):
        _, info = self._top_down(x, features=self._bottom_up(x), use_mean=True, y=y)
        return self._flatten_groups(info["z"])

    def posterior_sample(self, x, seed, y=None):
        _, info = self._top_down(x, features=self._bottom_up(x), seed=seed, y=y)
        return self._flatten_groups(info["z"])

    def log_weight(self, x, z, y=None):
        params, info = self._top_down(x, features=self._bottom_up(x),
                                      latents=self._split(tf.cast(z, tf.float32)), y=y)
        return self.likelihood.distribution(params).log_prob(x) + tf.add_n(info["log_ratio"])

    def log_prior(self, z, y=None):
        z = tf.cast(z, tf.float32)
        _, info = self._top_down(z, latents=self._split(z), y=y)
        return tf.add_n(info["log_prior"])

    def log_prior_ratio(self, x, z, y=None):
        k, batch = tf.shape(z)[0], tf.shape(x)[0]
        features = [tile_samples(f, k) for f in self._bottom_up(x)]  # sample-major like z
        flat = tf.reshape(tf.cast(z, tf.float32), [k * batch, self.noise_dim])
        _, info = self._top_down(tile_samples(x, k), features=features, latents=self._split(flat),
                                 y=None if y is None else tile_samples(y, k))
        return tf.reshape(tf.add_n(info["log_ratio"]), [k, batch])

    def _reconstruct(self, x, y=None):
        params, _ = self._top_down(x, features=self._bottom_up(x), use_mean=True, y=y)
        return self.likelihood.distribution(params).mean()

    def _elbo_terms(self, x, seed, training=False, y=None):
        params, info = self._top_down(x, features=self._bottom_up(x, training=training),
                                      seed=seed, training=training, y=y)
        kl_dims = self._flatten_groups(info["kl"])  # [batch, noise_dim]
        kl_groups = tf.stack([tf.reduce_sum(tf.reshape(k, [tf.shape(k)[0], -1]), axis=-1)
                              for k in info["kl"]], axis=-1)  # [batch, groups]
        log_px = self.likelihood.distribution(params).log_prob(x)
        return ElboTerms(log_px, kl_groups, kl_dims)

    def sample_log_weights(self, x, num_samples, seed, y=None):
        batch = tf.shape(x)[0]
        # The bottom-up pass runs once; its features are tiled sample-major.
        features = [tile_samples(f, num_samples) for f in self._bottom_up(x)]
        tiled_x = tile_samples(x, num_samples)
        params, info = self._top_down(tiled_x, features=features, seed=seed,
                                      y=None if y is None else tile_samples(y, num_samples))
        log_w = self.likelihood.distribution(params).log_prob(tiled_x) + tf.add_n(info["log_ratio"])
        return tf.reshape(log_w, [num_samples, batch])

    def _level_elbo(self, x, seed, prior_groups, y=None):
        params, info = self._top_down(x, features=self._bottom_up(x), seed=seed,
                                      prior_groups=prior_groups, y=y)
        return self.likelihood.distribution(params).log_prob(x) + tf.add_n(info["log_ratio"])

    def level_elbo(self, x, levels=1, num_samples=1, seed=None, labels=None):
        """The ELBO in nats with the lowest `levels` latent groups drawn from their
        conditional prior p(z_l | z_<l) instead of the posterior, `[batch]`: the bound
        L^{>k} of Havtorn et al. (2021), which only the upper groups fit to `x`.

        `elbo(x) - level_elbo(x)` is what the lowest groups explain of `x` that the upper
        ones do not; the "level_ratio" anomaly score uses it (see `zoo.applications.anomaly`).
        `levels=0` is the ELBO itself. Averaged over `num_samples` draws.

        References:
          Havtorn, Frellsen, Hauberg, Maaløe. Hierarchical VAEs know what they don't know.
          ICML 2021.
        """
        x = self.check_input("x", x)
        y = self._with_labels(labels, x)
        levels = validation.non_negative_int("levels", levels)
        if levels >= len(self._groups):
            raise ValueError(f"levels must be below the number of latent groups "
                             f"({len(self._groups)}): the top group always comes from the "
                             f"posterior. Received: levels={levels}")
        num_samples = validation.positive_int("num_samples", num_samples)
        seeds = tfp.random.split_seed(validation.seed_tensor(seed), n=num_samples)
        level_elbo = self._tool(f"level_elbo_{levels}", lambda: tf.function(
            lambda x, s, y: self._level_elbo(x, s, levels, y), reduce_retracing=True))
        return tf.add_n([level_elbo(x, s, y) for s in seeds]) / num_samples

    def kl_loss(self, kl_units, step):
        groups = [g["size"] for g in self._groups] if self.kl_balancing else None
        return schedules.kl_loss(kl_units, step, self.beta, self.kl_warmup_steps, self.free_bits,
                                 balance_groups=groups)

    def get_config(self):
        config = super().get_config()
        config.update({
            "latent_dims": self.latent_dims,
            "network": self.network,
            "hidden_dims": self.hidden_dims,
            "groups_per_stage": self.groups_per_stage,
            "num_res_blocks": self.num_res_blocks,
            "activation": self.activation,
            "soft_clamp": self.soft_clamp,
            "kl_balancing": self.kl_balancing,
            "min_scale": self.min_scale,
        })
        return config
