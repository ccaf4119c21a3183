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

Each model provides two hooks: `_posterior_sample(x, seed)` and
`_log_importance_weight(x, z)` (log w(z), per example).

References:
  [1] Rezende, Mohamed, Wierstra. Stochastic backpropagation and approximate inference
      in deep generative models. ICML 2014.
  [2] Mattei, Frellsen. Leveraging the exact likelihood of deep latent variable models.
      NeurIPS 2018.
"""

import tensorflow as tf

METHODS = ("pseudo_gibbs", "metropolis_within_gibbs")


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
