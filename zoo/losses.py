"""The terms of the variational objective, as small functions testable without a model.

Conventions: everything is in nats; `[batch]` tensors hold one value per example;
`kl_units` is `[batch, units]`, the KL split over the units free bits and active-unit
counts act on (latent dimensions for a VAE, groups for a hierarchical model).
"""

import collections

import tensorflow as tf
import tensorflow_probability as tfp

tfd = tfp.distributions

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


def tile_samples(t, k):
    """Repeats a batch `k` times along the first axis, sample-major.

    Args:
      t: tensor `[batch, ...]`.
      k: int or int32 scalar tensor.

    Returns:
      tensor `[k * batch, ...]` of `t`'s dtype: row `i * batch + b` is `t[b]`.
    """
    return tf.tile(t, tf.concat([[k], tf.ones_like(tf.shape(t)[1:])], 0))


def kl_units(posterior, prior, z=None):
    """Per-unit KL(q(z|x) || p(z)), shape `[batch, units]`.

    Math:
      When both are factorised Gaussians (`tfd.Independent` over `tfd.Normal`) the KL is
      analytic per dimension, KL_j = log(s_p/s_q) + (s_q^2 + (m_q - m_p)^2) / (2 s_p^2) - 1/2,
      via `tfd.kl_divergence` on the per-dimension distributions. Otherwise (flow priors,
      other posteriors) it is the one-sample Monte Carlo estimate
      log q(z|x) - log p(z) at the posterior sample `z`, reported as a single unit.

    Args:
      posterior: tfd.Distribution. q(z|x), batch shape `[batch]`.
      prior: tfd.Distribution. p(z), batch shape `[]`.
      z: Tensor. A sample from `posterior`, `[batch, latent]`; needed only for the Monte
        Carlo estimate.

    Returns:
      float32 tensor, nats: `[batch, latent]` in closed form, `[batch, 1]` for the Monte
        Carlo estimate.

    Raises:
      ValueError: the pair has no closed form and `z` is None.
    """
    q_base = getattr(posterior, "distribution", None)
    p_base = getattr(prior, "distribution", None)
    if isinstance(posterior, tfd.Independent) and isinstance(prior, tfd.Independent):
        try:
            return tfd.kl_divergence(q_base, p_base)  # [batch, latent]
        except NotImplementedError:
            pass
    if z is None:
        raise ValueError("z is required for the Monte Carlo KL of a non-Gaussian pair.")
    return (posterior.log_prob(z) - prior.log_prob(z))[:, None]  # [batch, 1]


def kl_weight(step, beta=1.0, warmup_steps=0):
    """KL weight at optimizer step `step`: beta * min(1, (step + 1) / warmup_steps).

    A linear warm-up from ~0 to `beta` [1, 2] keeps units from collapsing early, while
    the decoder still produces little information.

    Args:
      step: int or int tensor. The optimizer step, from 0.
      beta: float. The weight after warm-up. Defaults to 1.0.
      warmup_steps: int. Steps of the linear warm-up; 0 means none. Defaults to 0.

    Returns:
      float32 scalar tensor.

    References:
      [1] Bowman et al. Generating sentences from a continuous space. CoNLL 2016.
      [2] Sønderby et al. Ladder variational autoencoders. NeurIPS 2016.
    """
    beta = tf.cast(beta, tf.float32)
    if not warmup_steps:
        return beta
    progress = (tf.cast(step, tf.float32) + 1.0) / float(warmup_steps)
    return beta * tf.minimum(1.0, progress)


def kl_penalty(kl_units, free_bits=0.0):
    """The KL term as it enters the loss, averaged over the batch: a scalar.

    Math:
      sum_j max(lambda, E_batch[KL_j]) with lambda = `free_bits` nats per unit [1]. Below
      the floor a unit's KL has no gradient, so the optimizer has no reason to shut it
      off. With lambda = 0 this is the plain batch mean of sum_j KL_j.

    Args:
      kl_units: `[batch, units]` KL per unit, nats.
      free_bits: float. The floor lambda, nats per unit. Defaults to 0.0.

    Returns:
      scalar tensor of `kl_units`' dtype, nats.

    References:
      [1] Kingma et al. Improved variational inference with inverse autoregressive flow.
          NeurIPS 2016, appendix C.8.
    """
    mean_kl = tf.reduce_mean(kl_units, axis=0)  # [units]
    if free_bits:
        mean_kl = tf.maximum(mean_kl, tf.cast(free_bits, mean_kl.dtype))
    return tf.reduce_sum(mean_kl)


def active_units(kl_units, threshold):
    """Number of units whose batch-mean KL exceeds `threshold` nats.

    Args:
      kl_units: `[batch, units]` KL per unit, nats.
      threshold: float, nats.

    Returns:
      float32 scalar tensor (a count).
    """
    mean_kl = tf.reduce_mean(kl_units, axis=0)
    return tf.reduce_sum(tf.cast(mean_kl > threshold, tf.float32))


def active_units_by_variance(posterior_means, threshold=0.01):
    """Units with Cov_x(E_q[z_j | x]) > `threshold` over the batch, as float32 [1].

    The criterion of Burda et al. (2016): it needs no per-dimension KL, so it applies
    to any prior, flows included.

    Args:
      posterior_means: `[batch, latent]` E_q[z|x].
      threshold: float. Variance above which a unit is active. Defaults to 0.01.

    Returns:
      float32 scalar tensor (a count).

    References:
      [1] Burda, Grosse, Salakhutdinov. Importance weighted autoencoders. ICLR 2016.
    """
    variance = tf.math.reduce_variance(posterior_means, axis=0)
    return tf.reduce_sum(tf.cast(variance > threshold, tf.float32))


def elbo(log_px_given_z, kl):
    """ELBO per example: E_q[log p(x|z)] - KL(q(z|x) || p(z)).

    Args:
      log_px_given_z: `[batch]` log p(x|z), nats.
      kl: `[batch]` KL, nats.

    Returns:
      tensor `[batch]`, nats.
    """
    return log_px_given_z - kl


def importance_weighted_bound(log_weights):
    """IWAE bound log (1/k) sum_i w_i from log-weights `[k, batch]`, shape `[batch]`.

    Args:
      log_weights: float tensor `[k, batch]`, log w_i in nats.

    Returns:
      tensor `[batch]`, nats.

    Math:
      log w_i = log p(x|z_i) + log p(z_i) - log q(z_i|x), z_i ~ q(z|x). The bound is a
      lower bound on log p(x) for every k, equals the ELBO in expectation at k = 1, and
      increases monotonically in expectation with k [1].

    References:
      [1] Burda, Grosse, Salakhutdinov. Importance weighted autoencoders. ICLR 2016.
    """
    return tfp.math.reduce_logmeanexp(log_weights, axis=0)


def bits_per_dim(nll_nats, num_dims):
    """Converts a negative log-likelihood in nats per example to bits per dimension.

    Args:
      nll_nats: float32 tensor (any shape), nats per example.
      num_dims: int. Dimensions of one example (e.g. 784 for 28x28x1).

    Returns:
      float32 tensor shaped like `nll_nats`, bits per dimension.
    """
    return nll_nats / (num_dims * tf.math.log(2.0))


def balanced_kl_penalty(kl_groups, group_sizes, free_bits=0.0):
    """KL of a latent hierarchy with NVAE's balancing coefficients: a scalar.

    Math:
      With k_l = E_batch[KL_l] per group and a_l = size_l / sum(sizes),
        c_l = (k_l + 0.01) / a_l, normalised to mean 1, not differentiated,
        penalty = sum_l c_l * max(lambda, k_l).
      A group that carries more KL per latent variable than the others is penalised
      more, so during warm-up no group can take all the information while the rest
      collapse [1]. Use it only while the KL weight is warming up.

    Args:
      kl_groups: `[batch, groups]` KL per group.
      group_sizes: sequence of ints, latent variables per group.
      free_bits: float. Per-group floor lambda, as in `kl_penalty`.

    Returns:
      scalar tensor, nats (the coefficients average 1).

    References:
      [1] Vahdat, Kautz. NVAE: A deep hierarchical variational autoencoder. NeurIPS
          2020, appendix A.
    """
    mean_kl = tf.reduce_mean(kl_groups, axis=0)  # [groups]
    sizes = tf.constant(group_sizes, mean_kl.dtype)
    share = sizes / tf.reduce_sum(sizes)
    coeff = (tf.abs(mean_kl) + 0.01) / share
    coeff = tf.stop_gradient(coeff / tf.reduce_mean(coeff))
    if free_bits:
        mean_kl = tf.maximum(mean_kl, tf.cast(free_bits, mean_kl.dtype))
    return tf.reduce_sum(coeff * mean_kl)


def feature_reconstruction(real_features, fake_features):
    """Reconstruction error in a discriminator layer, per example: `[batch]`.

    Math:
      -log N(Dis_l(x); Dis_l(x~), I) up to a constant = 0.5 * ||Dis_l(x) - Dis_l(x~)||^2,
      summed over the layer's units: VAE-GAN's "learned similarity" replacing the pixel
      likelihood [1].

    Args:
      real_features, fake_features: the layer's activations `[batch, ...]` on the input
        and on its reconstruction.

    Returns:
      tensor `[batch]`, nats up to a constant.

    References:
      [1] Larsen et al. Autoencoding beyond pixels using a learned similarity metric.
          ICML 2016.
    """
    diff = tf.reshape(real_features - fake_features, [tf.shape(real_features)[0], -1])
    return 0.5 * tf.reduce_sum(tf.square(diff), axis=-1)


def discriminator_loss(real_logits, fake_logits):
    """The discriminator's binary cross-entropies (real -> 1, fake -> 0), as two scalars.

    Args:
      real_logits: the discriminator's logits `[batch]` on data.
      fake_logits: its logits `[batch]` on reconstructions or samples.

    Returns:
      A tuple `(real, fake)` of float32 scalar tensors, each a batch mean in nats, so
        equilibrium gating can look at both; the discriminator minimises their sum.
    """
    real = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(tf.ones_like(real_logits), real_logits))
    fake = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(tf.zeros_like(fake_logits), fake_logits))
    return real, fake


def generator_loss(fake_logits):
    """Non-saturating generator loss, -log D(x~), batch mean [1].

    Args:
      fake_logits: the discriminator's logits `[batch]` on generated inputs.

    Returns:
      float32 scalar tensor, nats.

    References:
      [1] Goodfellow et al. Generative adversarial nets. NeurIPS 2014.
    """
    return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(tf.ones_like(fake_logits), fake_logits))


def equilibrium_gates(real_loss, fake_loss, equilibrium=0.68, margin=0.35):
    """Whether to train the discriminator and the decoder's adversarial term this step.

    The VAE-GAN reference implementation keeps the two players near an equilibrium of
    their cross-entropies (ln 2 ~ 0.69 at chance): a discriminator already far better
    than chance (a loss below equilibrium - margin) pauses; a decoder facing a
    discriminator far worse than chance (a loss above equilibrium + margin) gets no
    adversarial gradient; if both would pause, both train.

    Args:
      real_loss, fake_loss: scalar tensors, the discriminator's cross-entropies in nats
        (see `discriminator_loss`).
      equilibrium: float, nats. Defaults to 0.68.
      margin: float, nats. Defaults to 0.35.

    Returns:
      (train_discriminator, train_decoder): boolean scalars.
    """
    strong = (real_loss < equilibrium - margin) | (fake_loss < equilibrium - margin)
    weak = (real_loss > equilibrium + margin) | (fake_loss > equilibrium + margin)
    train_discriminator = tf.logical_not(strong)
    train_decoder = tf.logical_not(weak)
    both_paused = tf.logical_not(train_discriminator | train_decoder)
    return train_discriminator | both_paused, train_decoder | both_paused


def example_weights(sample_weight):
    """Per-example weights scaled to mean 1, so a weighted batch mean is
    `reduce_mean(weights * values)`. All-zero weights give zeros, not NaN.

    Args:
      sample_weight: numbers `[batch]` (or `[batch, 1]`), >= 0.

    Returns:
      float32 tensor `[batch]`.
    """
    weights = tf.reshape(tf.cast(sample_weight, tf.float32), [-1])
    return tf.math.divide_no_nan(weights, tf.reduce_mean(weights))


def group_terms(kl_dims, groups, threshold):
    """The KL and active units of each latent group, as `{kl_<name>, active_units_<name>}`.

    Args:
      kl_dims: `[batch, latent dims]` KL per dimension, groups side by side.
      groups: `((name, size), ...)` in the order of `kl_dims`' columns.
      threshold: float. KL (nats) above which a dimension counts as active.

    Returns:
      dict of float32 scalars: `kl_<name>` (batch-mean KL of the group, nats) and
        `active_units_<name>` (a count), for each group.
    """
    result = {}
    for (name, _), kl in zip(groups, tf.split(kl_dims, [size for _, size in groups], axis=-1)):
        result[f"kl_{name}"] = tf.reduce_mean(tf.reduce_sum(kl, axis=-1))
        result[f"active_units_{name}"] = active_units(kl, threshold)
    return result
