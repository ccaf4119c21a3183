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

Amortised posterior mean (the "posterior" method, no chains): for a model whose encoder
was trained on inputs with missing entries (a table's likelihood, `allows_missing`), the
encoder's q(z | x_obs) already is the model's answer to "which codes fit what was
observed", so E[x_mis | x_obs] ~= E_{q(z | x_obs)} E[x_mis | z], averaged over
`num_samples` draws of z (HI-VAE's and the missing-data VAEs' single imputation). One
encoder and one decoder pass: much faster than the chains, and on real tables as accurate
(see docs/benchmarks/imputation.md). Refused for an encoder that never saw a missing
entry (an image model would read the holes as zeros).

The chains use only a model's public building blocks: `posterior_sample(x, seed)`,
`log_weight(x, z)` (log w(z), per example), `log_prior_ratio(x, z)` (log p(z) - log q(z|x)
at `[batch]` or `[k, batch]` latents) and `decode(z)`, so every family imputes the same way.

References:
  [1] Rezende, Mohamed, Wierstra. Stochastic backpropagation and approximate inference
      in deep generative models. ICML 2014.
  [2] Mattei, Frellsen. Leveraging the exact likelihood of deep latent variable models.
      NeurIPS 2018.
  [3] Mattei, Frellsen. MIWAE: Deep generative modelling and imputation of incomplete
      data sets. ICML 2019.
"""

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from zoo import validation
from zoo.losses import tile_samples

METHODS = ("pseudo_gibbs", "metropolis_within_gibbs", "importance", "posterior")
#: Decoder evaluations per pass of importance-weighted imputation (memory bound).
PASS_SIZE = 8192
#: Importance proposals per chain when method="importance" gets no num_samples.
PROPOSALS_PER_CHAIN = 16



def merge(observed, x, filled):
    """`x` where observed, `filled` elsewhere (observed values are copied exactly).

    Args:
      observed: bool tensor broadcastable to `x`; True where `x` is observed.
      x: tensor `[batch, ...]`.
      filled: tensor of `x`'s dtype, broadcastable to `x`.

    Returns:
      tensor shaped as the broadcast of the three.
    """
    return tf.where(observed, x, filled)


def initial_fill(x, observed, allows_missing=False):
    """Starting values for the missing entries: each example's mean observed value
    (0 for an example with nothing observed), or NaN for a likelihood that takes missing
    entries (tables: the encoder then sees them as missing).

    Args:
      x: float tensor `[batch, ...]`.
      observed: bool tensor shaped like `x`.
      allows_missing: bool. The likelihood takes NaN entries. Defaults to False.

    Returns:
      tensor shaped like `x`, its observed entries unchanged.
    """
    if allows_missing:
        return merge(observed, x, tf.fill(tf.shape(x), tf.constant(float("nan"), x.dtype)))
    weight = tf.cast(observed, x.dtype)
    axes = list(range(1, len(x.shape)))
    count = tf.reduce_sum(weight, axis=axes, keepdims=True)
    mean = tf.reduce_sum(x * weight, axis=axes, keepdims=True) / tf.maximum(count, 1.0)
    return merge(observed, x, tf.broadcast_to(mean, tf.shape(x)))


def metropolis_accept(log_w_proposal, log_w_current, seed):
    """Boolean `[batch]`: accept with probability min(1, exp(log_w_proposal - log_w_current)).

    A current state with weight 0 (log w = -inf) always moves; NaN never is accepted.

    Args:
      log_w_proposal, log_w_current: `[batch]` float32 log importance weights, nats.
      seed: stateless seed, a shape-`[2]` int tensor.

    Returns:
      bool tensor `[batch]`: True where the proposal is accepted.
    """
    log_u = tf.math.log(tf.random.stateless_uniform(tf.shape(log_w_proposal), seed=seed,
                                                    minval=1e-30, maxval=1.0))
    return log_u < log_w_proposal - log_w_current


def select(accept, new, old):
    """Per-example choice between latent codes.

    Args:
      accept: bool `[batch]`.
      new, old: latent codes `[batch, ...]`.

    Returns:
      tensor `[batch, ...]`: `new` where `accept`, `old` elsewhere.
    """
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

    Returns:
      `[k, batch]` float32 log weights in nats; -inf where a weight cannot be computed.
    """
    log_w = log_p_observed - tfp.math.reduce_logmeanexp(-log_prior_ratios, axis=0)
    # A proposal whose weight cannot be computed (inf - inf) gets none rather than NaN.
    return tf.where(tf.math.is_nan(log_w), tf.constant(-float("inf"), log_w.dtype), log_w)


def importance_weighted_mean(log_w, values):
    """Self-normalised estimate sum_k softmax(log_w)_k values_k over axis 0.

    Args:
      log_w: `[k, batch]` log importance weights.
      values: `[k, batch, ...]`.

    Returns:
      tensor `[batch, ...]`.
    """
    weights = tf.nn.softmax(log_w, axis=0)
    shape = tf.concat([tf.shape(weights), tf.ones([tf.rank(values) - 2], tf.int32)], 0)
    return tf.reduce_sum(tf.reshape(weights, shape) * values, axis=0)


def run_chains(model, x, observed, num_iterations, num_chains, metropolis, seed, y=None):
    """Runs `num_chains` imputation chains per example as one batch (graph code).

    Args:
      model: a zoo model.
      x: float32 `[batch, ...]`, checked, with the missing entries filled (0 or NaN).
      observed: bool `[batch, ...]`, True where `x` is observed.
      num_iterations: int32 scalar. Steps per chain; the first half is burn-in.
      num_chains: int32 scalar. Chains per example.
      metropolis: bool. Metropolis-within-Gibbs after burn-in, else pseudo-Gibbs.
      seed: stateless seed, a shape-`[2]` int tensor.
      y: a conditional model's one-hot labels `[batch, num_classes]`, or None.

    Returns:
      A tuple (the last x of every chain `[chains, batch, ...]`, the point estimate
        from the chains' second halves `[batch, ...]`: the average decoder mean, or for
        categorical entries the most probable class of the average probabilities; see
        `Likelihood.point_statistics`), both with the observed entries of `x`.
    """
    likelihood = model.likelihood
    batch = tf.shape(x)[0]
    x_all, observed_all = tile_samples(x, num_chains), tile_samples(observed, num_chains)
    x_hat = initial_fill(x_all, observed_all, likelihood.allows_missing)
    y_all = None if y is None else tile_samples(y, num_chains)
    z = model.posterior_sample(x_hat, tf.random.experimental.stateless_fold_in(seed, -1), y_all)
    burn_in = num_iterations // 2
    stats_shape = likelihood.statistics_shape(model.data_shape)
    mean_sum = tf.zeros(tf.concat([[num_chains * batch], stats_shape], 0))
    for i in tf.range(num_iterations):
        seeds = tf.random.experimental.stateless_split(
            tf.random.experimental.stateless_fold_in(seed, i), num=3)
        proposal = model.posterior_sample(x_hat, seeds[0], y_all)
        # Metropolis-within-Gibbs burns in with pseudo-Gibbs steps: from the crude
        # initial fill, independence proposals are almost never accepted and the chain
        # would sit where it started. Only the second half, all exact MH steps, counts.
        if metropolis and i >= burn_in:
            accept = metropolis_accept(model.log_weight(x_hat, proposal, y_all),
                                       model.log_weight(x_hat, z, y_all), seeds[1])
            z = select(accept, proposal, z)
        else:
            z = proposal
        p_x = model.decoder_distribution(z, y_all)
        if i >= burn_in:
            mean_sum += likelihood.point_statistics(p_x)
        x_hat = merge(observed_all, x_all, likelihood.constrain(p_x.sample(seed=seeds[2])))
    steps = tf.cast((num_iterations - burn_in) * num_chains, x.dtype)
    chain_shape = tf.concat([[num_chains, batch], tf.shape(x)[1:]], 0)
    stats = tf.reshape(mean_sum, tf.concat([[num_chains, batch], stats_shape], 0))
    mean = likelihood.point_estimate(tf.reduce_sum(stats, axis=0) / steps)
    return tf.reshape(x_hat, chain_shape), merge(observed, x, mean)


def importance_estimate(model, x, observed, fills, num_samples, seed, y=None):
    """Importance-weighted E[x_mis | x_obs] with the chains' posteriors as a mixture
    proposal (graph code; see the module docstring).

    Args:
      model: a zoo model.
      x: float32 `[batch, ...]`, checked, with the missing entries filled.
      observed: bool `[batch, ...]`, True where `x` is observed.
      fills: `[chains, batch, ...]`, the chains' last x (from `run_chains`).
      num_samples: int32 scalar. Proposals per example, split evenly over the chains
        (the remainder is dropped).
      seed: stateless seed, a shape-`[2]` int tensor.
      y: a conditional model's one-hot labels `[batch, num_classes]`, or None.

    Returns:
      A tuple (the estimate `[batch, ...]`, one draw per chain by
        sampling-importance-resampling `[chains, batch, ...]`), both with the observed
        entries of `x`.
    """
    num_chains, batch = tf.shape(fills)[0], tf.shape(x)[0]
    per_chain = num_samples // num_chains
    seeds = tf.random.experimental.stateless_split(seed, num=3)
    # per_chain proposals from each chain's posterior: [chains * per_chain, batch, ...].
    flat_fills = tf.reshape(fills, tf.concat([[num_chains * batch], tf.shape(x)[1:]], 0))
    k = per_chain * num_chains
    y_k = None if y is None else tile_samples(y, k)  # row order of flat_z: sample-major
    flat_z = model.posterior_sample(tile_samples(flat_fills, per_chain), seeds[0], y_k)
    z = tf.reshape(flat_z, tf.concat([[k, batch], tf.shape(flat_z)[1:]], 0))
    ratios = tf.map_fn(lambda fill: model.log_prior_ratio(fill, z, y), fills,
                       fn_output_signature=tf.float32)  # [C, k, batch]
    p_x = model.decoder_distribution(flat_z, y_k)
    likelihood = model.likelihood
    log_p_obs = tf.reshape(likelihood.log_prob_observed(p_x, tile_samples(x, k),
                                                        tile_samples(observed, k)), [k, batch])
    log_w = mixture_log_weights(log_p_obs, ratios)
    stats = tf.reshape(likelihood.point_statistics(p_x),
                       tf.concat([[k, batch], likelihood.statistics_shape(model.data_shape)], 0))
    estimate = likelihood.point_estimate(importance_weighted_mean(log_w, stats))
    # Resampling: draw a proposal index per chain by weight, then x_mis ~ p(x | z).
    picks = tf.random.stateless_categorical(tf.transpose(log_w), num_chains, seeds[1])  # [batch, C]
    # chosen[c, b] = z[picks[b, c], b]
    idx = tf.stack([tf.transpose(picks), tf.tile(tf.range(batch, dtype=picks.dtype)[None],
                                                 [num_chains, 1])], axis=-1)  # [C, batch, 2]
    chosen = tf.gather_nd(z, idx)
    draws = model.decoder_distribution(
        tf.reshape(chosen, tf.concat([[num_chains * batch], tf.shape(chosen)[2:]], 0)),
        None if y is None else tile_samples(y, num_chains))
    draws = tf.reshape(likelihood.constrain(draws.sample(seed=seeds[2])), tf.shape(fills))
    # tf.where broadcasts the observed entries `[batch, ...]` over the chains.
    return merge(observed, x, estimate), merge(observed, x, draws)


def posterior_estimate(model, x, observed, num_samples, num_draws, seed, y=None):
    """E_{q(z | x_obs)} E[x_mis | z] over `num_samples` codes (graph code; see the module
    docstring), and `num_draws` completions x_mis ~ p(x | z) from the first codes.

    Args:
      model: a zoo model whose likelihood allows missing entries.
      x: float32 `[batch, ...]`, checked, NaN at the missing entries.
      observed: bool `[batch, ...]`, True where `x` is observed.
      num_samples: int32 scalar, codes per example (at least `num_draws`).
      num_draws: int32 scalar, completions per example.
      seed: stateless seed, a shape-`[2]` int tensor.
      y: a conditional model's one-hot labels `[batch, num_classes]`, or None.

    Returns:
      A tuple (the estimate `[batch, ...]`, the draws `[num_draws, batch, ...]`), both with
        the observed entries of `x`.
    """
    batch = tf.shape(x)[0]
    seeds = tf.random.experimental.stateless_split(seed, num=2)
    y_k = None if y is None else tile_samples(y, num_samples)
    flat_z = model.posterior_sample(tile_samples(x, num_samples), seeds[0], y_k)  # sample-major
    p_x = model.decoder_distribution(flat_z, y_k)
    likelihood = model.likelihood
    stats = tf.reshape(likelihood.point_statistics(p_x), tf.concat(
        [[num_samples, batch], likelihood.statistics_shape(model.data_shape)], 0))
    estimate = likelihood.point_estimate(tf.reduce_mean(stats, axis=0))
    # The first num_draws * batch rows of flat_z are the first num_draws codes of each example.
    first = num_draws * batch
    draws = model.decoder_distribution(flat_z[:first], None if y_k is None else y_k[:first])
    draws = tf.reshape(likelihood.constrain(draws.sample(seed=seeds[1])),
                       tf.concat([[num_draws], tf.shape(x)], 0))
    return merge(observed, x, estimate), merge(observed, x, draws)


def default_method(model):
    """"posterior" for a model trained with missing entries (its encoder reads gaps; as
    accurate as the chains on the table benchmark, and a single pass), else "pseudo_gibbs"."""
    return "posterior" if model.likelihood.allows_missing else "pseudo_gibbs"


class Imputer:
    """Imputation with one model, its chains compiled once (what `model.impute` runs).

    Args:
      model: a zoo model.

    Call it as `model.impute` (same arguments); see that method for their meaning.
    """

    def __init__(self, model):
        self.model = model
        self._chains = tf.function(self._run_chains, reduce_retracing=True)
        self._importance = tf.function(self._run_importance, reduce_retracing=True)
        self._posterior = tf.function(self._run_posterior, reduce_retracing=True)

    def _run_chains(self, x, observed, num_iterations, num_chains, metropolis, seed, y=None):
        return run_chains(self.model, x, observed, num_iterations, num_chains, metropolis, seed, y)

    def _run_importance(self, x, observed, num_iterations, num_chains, num_samples, seed, y=None):
        chain_seed, importance_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
        fills, _ = run_chains(self.model, x, observed, num_iterations, num_chains, False,
                              chain_seed, y)
        return importance_estimate(self.model, x, observed, fills, num_samples, importance_seed, y)

    def _run_posterior(self, x, observed, num_samples, num_draws, seed, y=None):
        return posterior_estimate(self.model, x, observed, num_samples, num_draws, seed, y)

    def __call__(self, x, mask=None, num_iterations=100, method=None, num_chains=8,
                 seed=None, return_samples=False, num_samples=None, num_draws=None, labels=None):
        from zoo import tables

        if method is None:
            method = default_method(self.model)
        if tables.is_table(x):
            if labels is not None:
                raise ValueError("labels are for conditional image models; a table's model "
                                 f"takes none. Received: labels={labels!r}"[:300])
            return self._impute_table(x, mask, num_iterations, method, num_chains, seed,
                                      return_samples, num_samples, num_draws)
        if num_draws is not None:
            raise ValueError("num_draws is for tables (a list of completed DataFrames); for "
                             f"arrays use return_samples=True. Received: num_draws={num_draws!r}")
        if mask is None:
            mask = self._missing_mask(x)
        if method not in METHODS:
            raise ValueError(f"method must be one of {list(METHODS)}. Received: method={method!r}")
        num_iterations = validation.positive_int("num_iterations", num_iterations)
        num_chains = validation.positive_int("num_chains", num_chains)
        observed = validation.check_mask("mask", self._pixel_mask_to_channels(mask),
                                         (None, *self.model.data_shape))
        raw = validation.to_float_tensor("x", x).numpy()
        if raw.shape != observed.shape:
            raise ValueError(f"mask must have the shape of x. Received: mask.shape="
                             f"{list(observed.shape)}, x.shape={list(raw.shape)}")
        if num_samples is None:
            num_samples = PROPOSALS_PER_CHAIN * num_chains
        num_samples = validation.positive_int("num_samples", num_samples)
        if method in ("importance", "posterior") and num_samples < num_chains:
            raise ValueError(f"num_samples must be at least num_chains ({num_chains}) for "
                             f"method={method!r}. Received: num_samples={num_samples}")
        if method == "posterior" and not self.model.likelihood.allows_missing:
            raise ValueError(
                "method='posterior' reads q(z | x_obs) from the encoder, which needs a model "
                "trained with missing entries (a table's likelihood); this model's encoder "
                f"never saw one. Use 'importance' or 'pseudo_gibbs'. Received: method={method!r}")
        # Missing entries are never read: zeroed (NaN for a likelihood that takes missing
        # entries, so that its encoder sees them as missing), then checked like any input.
        fill = np.nan if self.model.likelihood.allows_missing else 0.0
        x = self.model.check_input("x", np.where(observed, raw, fill))
        y = self.model.label_codes(labels, int(x.shape[0]))
        observed = tf.constant(observed)
        args = (x, observed, tf.constant(num_iterations), tf.constant(num_chains))
        seed = validation.seed_tensor(seed)
        if method in ("importance", "posterior"):
            # Passes of at most PASS_SIZE decoder evaluations bound the memory, as in
            # `log_likelihood`; each pass gets its own seed.
            chunk = max(1, PASS_SIZE // num_samples)
            if method == "importance":
                run = lambda x, observed, seed, y: self._importance(  # noqa: E731
                    x, observed, *args[2:], tf.constant(num_samples), seed, y)
            else:
                run = lambda x, observed, seed, y: self._posterior(  # noqa: E731
                    x, observed, tf.constant(num_samples), args[3], seed, y)
            parts = [run(x[start:start + chunk], observed[start:start + chunk],
                         tf.random.experimental.stateless_fold_in(seed, start),
                         None if y is None else y[start:start + chunk])
                     for start in range(0, int(x.shape[0]), chunk)]
            mean = tf.concat([p[0] for p in parts], axis=0)
            x_hat = tf.concat([p[1] for p in parts], axis=1)
        else:
            x_hat, mean = self._chains(*args, method == "metropolis_within_gibbs", seed, y)
        valid = self.model.likelihood.valid_values
        return valid(x_hat) if return_samples else valid(mean)

    def _pixel_mask_to_channels(self, mask):
        """A colour model's mask of whole pixels (`[batch, height, width]` or
        `[batch, height, width, 1]`, the usual inpainting mask) spread over the channels:
        a pixel missing is missing in every channel. Any other mask is returned as given
        (a per-channel one has the images' own shape)."""
        shape = self.model.data_shape
        if len(shape) != 3 or shape[-1] == 1 or mask is None or isinstance(mask, (str, bytes)):
            return mask
        values = np.asarray(mask.numpy() if isinstance(mask, tf.Tensor) else mask)
        if values.ndim == 3 and values.shape[1:] == tuple(shape[:2]):
            values = values[..., np.newaxis]
        if values.ndim == 4 and values.shape[1:] == (*shape[:2], 1):
            return np.broadcast_to(values, (values.shape[0], *shape))
        return mask

    def _missing_mask(self, x):
        """The mask of observed entries when none is given: where `x` is not NaN."""
        values = np.asarray(validation.to_float_tensor("x", x))
        if not np.isnan(values).any():
            raise ValueError("impute needs a mask (1 = observed, 0 = missing) or NaN at the "
                             "missing entries of x. Received: x with no NaN and mask=None")
        return ~np.isnan(values)

    def _impute_table(self, table, mask, num_iterations, method, num_chains, seed,
                      return_samples, num_samples, num_draws):
        """A DataFrame with its missing cells filled (or `num_draws` completed DataFrames,
        categories sampled rather than the most probable), in the table's own values."""
        if mask is not None or return_samples:
            raise ValueError("A table's missing cells are its empty ones; ask for multiple "
                             "imputations with num_draws. Received: "
                             f"mask={'given' if mask is not None else None}, return_samples={return_samples}")
        # The likelihood encodes the table by its schema, or refuses a model without one.
        rows = self.model.likelihood.prepare("x", table)
        schema = self.model.likelihood.schema
        observed = ~np.isnan(rows)
        if num_draws is None:
            filled = self(rows, observed, num_iterations, method, num_chains, seed,
                          num_samples=num_samples)
            return _restore_observed(schema.decode(filled, index=table.index), table, schema)
        num_draws = validation.positive_int("num_draws", num_draws)
        draws = self(rows, observed, num_iterations, method, max(num_chains, num_draws), seed,
                     return_samples=True, num_samples=num_samples)
        return [_restore_observed(schema.decode(d, index=table.index), table, schema)
                for d in draws[:num_draws]]


def _restore_observed(filled, table, schema):
    """`filled` with the user's own observed cells put back exactly (the schema's decoding
    would clip or round them), and the table's other columns kept."""
    out = table.copy()
    for name in schema.names:
        column = filled[name]
        if out[name].isna().any():
            merged = out[name].astype(object).where(out[name].notna(), column.astype(object))
            try:  # the column's type once complete: Int64 for integers, bool, ...
                out[name] = merged.astype(column.dtype)
            except (TypeError, ValueError):
                out[name] = merged.infer_objects()
    return out
