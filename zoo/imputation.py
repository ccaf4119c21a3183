"""Missing-data imputation with a trained VAE: the chains behind `model.impute`.

Both chains alternate between the latent code and the missing part of x, keeping the
observed part fixed, so that they target p(z, x_mis | x_obs) under the model.

Pseudo-Gibbs [1]: z ~ q(z | x_obs, x_mis), then x_mis ~ p(x_mis | z). Simple and
usually good, but q is only an approximation of p(z | x), so the chain's stationary
distribution is not exactly the model's conditional.

Metropolis-within-Gibbs [2]: the z-step becomes an independence Metropolis-Hastings
step with q as the proposal. With x = (x_obs, x_mis) and the importance weight
w(z) = p(x | z) p(z) / q(z | x), a proposal z' ~ q(z | x) replaces the current z with
probability min(1, w(z') / w(z)). That step leaves p(z | x) invariant, so (given a
proposal that covers the posterior) the chain samples the model's exact conditional.

Importance-weighted mean (the "importance" method): the chains find where the
completions are, then E[x_mis | x_obs] is estimated by self-normalised importance
sampling [3] with the exact likelihood of the observed part. Proposals z_k come from the
mixture m(z) = 1/C sum_c q(z | x_hat_c) of the posteriors of the C chains' last fills
(a mixture, because different chains settle on different completions, a 3 or an 8, and
one q covers only one of them). With
  log w_k = log p(x_obs | z_k) + log p(z_k) - log m(z_k),
  E[x_mis | x_obs] ~= sum_k softmax(log w)_k E[x_mis | z_k],
which is consistent as K grows for any proposal that covers the posterior, so the
chains' own bias (pseudo-Gibbs does not target the exact conditional) does not carry
over. See `importance_weighted_mean`.

Each model provides the hooks `_posterior_sample(x, seed)`, `_log_importance_weight(x, z)`
(log w(z), per example) and `_log_prior_ratio(x, z)` (log p(z) - log q(z|x) at `[k, batch]`
latents).

References:
  [1] Rezende, Mohamed, Wierstra. Stochastic backpropagation and approximate inference
      in deep generative models. ICML 2014.
  [2] Mattei, Frellsen. Leveraging the exact likelihood of deep latent variable models.
      NeurIPS 2018.
  [3] Mattei, Frellsen. MIWAE: Deep generative modelling and imputation of incomplete
      data sets. ICML 2019.
"""

import tensorflow as tf
import tensorflow_probability as tfp

METHODS = ("pseudo_gibbs", "metropolis_within_gibbs", "importance")


def merge(observed, x, filled):
    """`x` where observed, `filled` elsewhere (observed values are copied exactly)."""
    return tf.where(observed, x, filled)


def initial_fill(x, observed):
    """Starting values for the missing entries: each example's mean observed value
    (0 for an example with nothing observed)."""
    weight = tf.cast(observed, x.dtype)
    axes = list(range(1, len(x.shape)))
    count = tf.reduce_sum(weight, axis=axes, keepdims=True)
    mean = tf.reduce_sum(x * weight, axis=axes, keepdims=True) / tf.maximum(count, 1.0)
    return merge(observed, x, tf.broadcast_to(mean, tf.shape(x)))


def metropolis_accept(log_w_proposal, log_w_current, seed):
    """Boolean `[batch]`: accept with probability min(1, exp(log_w_proposal - log_w_current)).

    A current state with weight 0 (log w = -inf) always moves; NaN never is accepted.
    """
    log_u = tf.math.log(tf.random.stateless_uniform(tf.shape(log_w_proposal), seed=seed,
                                                    minval=1e-30, maxval=1.0))
    return log_u < log_w_proposal - log_w_current


def select(accept, new, old):
    """Per-example choice between latent codes `[batch, ...]`."""
    shape = tf.concat([tf.shape(accept), tf.ones([tf.rank(new) - 1], tf.int32)], 0)
    return tf.where(tf.reshape(accept, shape), new, old)


def mixture_log_weights(log_p_observed, log_prior_ratios):
    """log w = log p(x_obs|z) + log p(z) - log m(z) for proposals from the mixture
    m = 1/C sum_c q(z | x_hat_c), `[k, batch]`.

    Args:
      log_p_observed: `[k, batch]` log p(x_obs | z_k).
      log_prior_ratios: `[C, k, batch]` log p(z_k) - log q(z_k | x_hat_c) for each chain c.

    Math: log p(z) - log m(z) = -log (1/C sum_c exp(log q_c(z) - log p(z)))
                             = -logmeanexp_c(-ratio_c).
    """
    return log_p_observed - tfp.math.reduce_logmeanexp(-log_prior_ratios, axis=0)


def importance_weighted_mean(log_w, values):
    """Self-normalised estimate sum_k softmax(log_w)_k values_k over axis 0.

    Args:
      log_w: `[k, batch]` log importance weights.
      values: `[k, batch, ...]`.
    """
    weights = tf.nn.softmax(log_w, axis=0)
    shape = tf.concat([tf.shape(weights), tf.ones([tf.rank(values) - 2], tf.int32)], 0)
    return tf.reduce_sum(tf.reshape(weights, shape) * values, axis=0)
