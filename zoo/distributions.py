"""Distributions TFP does not ship in the form the zoo needs."""

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

tfd = tfp.distributions


def log_prob_between(upper, lower):
    """Stable `log(sigmoid(upper) - sigmoid(lower))` for `upper > lower`.

    Math:
      sigmoid(a) - sigmoid(b) = sigmoid(-b) - sigmoid(-a), so for bins right of the
      centre (a + b > 0) the difference of the two survival terms is taken instead. Both
      operands are then small and their logs are exact, which avoids the catastrophic
      cancellation of `1 - 1e-9` style differences in the tails.

    Args:
      upper, lower: float tensors of one shape (or broadcastable), logistic arguments.

    Returns:
      float tensor of their broadcast shape: the log-probability, in nats.
    """
    right = upper + lower > 0.0
    a = tf.where(right, -lower, upper)
    b = tf.where(right, -upper, lower)
    return tfp.math.log_sub_exp(tf.math.log_sigmoid(a), tf.math.log_sigmoid(b))


class DiscretizedLogistic(tfd.Distribution):
    """A logistic distribution discretized onto `num_bins` evenly spaced levels in [0, 1].

    The model of 8-bit pixel intensities used by PixelCNN++ and IAF-VAEs, here with one
    component and on the [0, 1] scale the zoo's image pipelines produce (level k is the
    value `k / (num_bins - 1)`). Values are rounded to the nearest level before scoring.

    Math:
      With half bin width h = 1 / (2 (K - 1)) and F the logistic CDF,
        P(x_k) = F(x_k + h) - F(x_k - h)   for 0 < k < K - 1,
        P(x_0) = F(h),   P(x_{K-1}) = 1 - F(1 - h),
      so the K probabilities sum to one exactly (the edge bins take the tails).

    References:
      [1] Salimans et al. PixelCNN++: Improving the PixelCNN with discretized logistic
          mixture likelihood and other modifications. ICLR 2017.
      [2] Kingma et al. Improved variational inference with inverse autoregressive
          flow. NeurIPS 2016.

    Args:
      loc: float tensor. Location of the underlying logistic, on the [0, 1] scale.
      scale: float tensor. Positive scale of the underlying logistic.
      num_bins: int. Number of levels. Defaults to 256 (8-bit data).
    """

    def __init__(self, loc, scale, num_bins=256, validate_args=False, allow_nan_stats=True,
                 name="DiscretizedLogistic"):
        parameters = dict(locals())
        if int(num_bins) < 2:
            raise ValueError(f"num_bins must be >= 2. Received: num_bins={num_bins}")
        with tf.name_scope(name) as name:
            self._loc = tf.convert_to_tensor(loc, dtype_hint=tf.float32, name="loc")
            self._scale = tf.convert_to_tensor(scale, dtype=self._loc.dtype, name="scale")
            self._num_bins = int(num_bins)
            super().__init__(
                dtype=self._loc.dtype,
                reparameterization_type=tfd.NOT_REPARAMETERIZED,
                validate_args=validate_args,
                allow_nan_stats=allow_nan_stats,
                parameters=parameters,
                name=name,
            )

    @classmethod
    def _parameter_properties(cls, dtype, num_classes=None):
        return dict(
            loc=tfp.util.ParameterProperties(),
            scale=tfp.util.ParameterProperties(
                default_constraining_bijector_fn=lambda: tfp.bijectors.Softplus()
            ),
        )

    @property
    def loc(self):
        """Location of the underlying logistic, on the [0, 1] scale (a float tensor)."""
        return self._loc

    @property
    def scale(self):
        """Scale of the underlying logistic, on the [0, 1] scale (a float tensor)."""
        return self._scale

    @property
    def num_bins(self):
        """int. Number of levels."""
        return self._num_bins

    def _event_shape(self):
        return tf.TensorShape([])

    def _event_shape_tensor(self):
        return tf.constant([], dtype=tf.int32)

    def _levels(self):
        return float(self._num_bins - 1)

    def _snap(self, x):
        return tf.round(tf.clip_by_value(x, 0.0, 1.0) * self._levels()) / self._levels()

    def _log_prob(self, x):
        x = self._snap(tf.convert_to_tensor(x, dtype=self.dtype))
        half = 0.5 / self._levels()
        inv_scale = 1.0 / self._scale
        upper = (x + half - self._loc) * inv_scale
        lower = (x - half - self._loc) * inv_scale
        interior = log_prob_between(upper, lower)
        first = tf.math.log_sigmoid(upper)  # P(X <= h), the whole left tail.
        last = tf.math.log_sigmoid(-lower)  # P(X > 1 - h), the whole right tail.
        return tf.where(x <= 0.0, first, tf.where(x >= 1.0, last, interior))

    def _cdf(self, x):
        x = tf.convert_to_tensor(x, dtype=self.dtype)
        # Highest level k/(K-1) that is <= x, then the CDF at the upper edge of its bin.
        k = tf.floor(tf.clip_by_value(x, 0.0, 1.0) * self._levels() + 1e-6)
        edge = (k + 0.5) / self._levels()
        cdf = tf.sigmoid((edge - self._loc) / self._scale)
        cdf = tf.where(x >= 1.0, tf.ones_like(cdf), cdf)
        return tf.where(x < 0.0, tf.zeros_like(cdf), cdf)

    def _sample_n(self, n, seed=None):
        shape = tf.concat([[n], self.batch_shape_tensor()], axis=0)
        tiny = np.finfo(np.float32).tiny
        u = tf.random.stateless_uniform(shape, seed=tfp.random.sanitize_seed(seed),
                                        minval=tiny, maxval=1.0, dtype=self.dtype)
        logistic = self._loc + self._scale * (tf.math.log(u) - tf.math.log1p(-u))
        return self._snap(logistic)

    def _mean(self):
        # E[X] = sum_{k=1}^{K-1} P(X >= x_k) / (K - 1): the survival function at the lower
        # edge of each level above zero, one sigmoid per level.
        levels = self._levels()
        edges = (tf.range(1, self._num_bins, dtype=self.dtype) - 0.5) / levels  # [K - 1]
        z = (edges - self._loc[..., tf.newaxis]) / self._scale[..., tf.newaxis]
        return tf.reduce_sum(tf.sigmoid(-z), axis=-1) / levels

    def _mode(self):
        # The logistic density is unimodal at `loc`; the most probable level is the nearest
        # one except at the edges, whose bins absorb the tails (and so can only gain mass).
        return self._snap(self._loc)


def stable_softplus(x):
    """log(1 + exp(x)) as max(x, 0) + log1p(exp(-|x|)): no exp of a large argument.

    TF's own softplus is stable, but the TFLite converter lowers it to log(exp(x) + 1),
    which is inf from x of about 89 on; the mixture's mean divides by scales down to
    1e-3, so exported samplers met such arguments (seen: a trained CIFAR-10 VAE's float32
    sampler gave inf).
    """
    return tf.maximum(x, 0.0) + tf.math.log1p(tf.exp(-tf.abs(x)))


def clipped_logistic_mean(loc, scale):
    """E[clip(L, 0, 1)] for L ~ Logistic(loc, scale), in closed form.

    Math:
      E[clip(L, 0, 1)] = integral_0^1 P(L > t) dt
                       = scale * (softplus(loc / scale) - softplus((loc - 1) / scale)).
      The mean of the discretized logistic on K levels is the midpoint rule of the same
      integral with K - 1 steps (see `DiscretizedLogistic._mean`), so the two differ by at
      most half a level; this one costs two softplus instead of K sigmoids, which matters
      for a mixture of many components exported to a phone.
    """
    return scale * (stable_softplus(loc / scale) - stable_softplus((loc - 1.0) / scale))


def channel_shift(coeffs, x, channels):
    """The PixelCNN++ shift of each channel's location by the channels before it.

    Math (C = 3, the slots of `coeffs` being a, b, c):
      mu_R' = mu_R,   mu_G' = mu_G + a x_R,   mu_B' = mu_B + b x_R + c x_G;
      with C = 2 only a is used, with C = 1 nothing is shifted.

    Args:
      coeffs: float tensor `[..., C, K]`, the coefficients in slots 0..C-1.
      x: float tensor `[..., C, K]` or `[..., C, 1]`, the channels' values on [0, 1]
        (per component, or one for all).
      channels: int. C, 1 to 3.

    Returns:
      float tensor `[..., C, K]`: what to add to each channel's location.
    """
    zero = tf.zeros_like(coeffs[..., 0, :] * x[..., 0, :])
    if channels == 1:
        return zero[..., tf.newaxis, :]
    shifts = [zero, coeffs[..., 0, :] * x[..., 0, :]]
    if channels == 3:
        shifts.append(coeffs[..., 1, :] * x[..., 0, :] + coeffs[..., 2, :] * x[..., 1, :])
    return tf.stack(shifts, axis=-2)


class DiscretizedLogisticMixture(tfd.Distribution):
    """A pixel's channels under a mixture of discretized logistics (PixelCNN++, [1]).

    Each of K components is a product over the pixel's C channels (1 to 3) of
    discretized logistics on `num_bins` levels in [0, 1], whose locations depend linearly
    on the channels before them (`channel_shift`): colour channels are correlated within a
    component, at the cost of three numbers. The pieces are TFP's: a `tfd.Logistic` on the
    level scale, quantized by `tfd.QuantizedDistribution` (whose first and last bins take
    the tails, the edge cases at 0 and 255), mixed by `tfd.MixtureSameFamily`.

    Math:
      p(x) = sum_k pi_k prod_c P(x_c | mu_ck + shift_ck(x_<c), s_ck), with
      P(x_c = j / (K - 1)) = F(j + 1/2) - F(j - 1/2) on the level scale, F(-1/2) := 0 and
      F(K - 1/2) := 1. Values are rounded to the nearest level before scoring.

    References:
      [1] Salimans, Karpathy, Chen, Kingma. PixelCNN++: Improving the PixelCNN with
          discretized logistic mixture likelihood and other modifications. ICLR 2017.

    Args:
      logits: float tensor `[..., K]`, the mixture weights' logits.
      loc: float tensor `[..., C, K]`, locations on the [0, 1] scale (before the shift).
      scale: float tensor `[..., C, K]`, positive scales on the [0, 1] scale.
      coeffs: float tensor `[..., C, K]`, channel coefficients (see `channel_shift`).
      num_bins: int. Levels per channel. Defaults to 256 (8-bit data).
    """

    def __init__(self, logits, loc, scale, coeffs, num_bins=256, validate_args=False,
                 allow_nan_stats=True, name="DiscretizedLogisticMixture"):
        parameters = dict(locals())
        if int(num_bins) < 2:
            raise ValueError(f"num_bins must be >= 2. Received: num_bins={num_bins}")
        with tf.name_scope(name) as name:
            self._logits = tf.convert_to_tensor(logits, dtype_hint=tf.float32, name="logits")
            dtype = self._logits.dtype
            self._loc = tf.convert_to_tensor(loc, dtype=dtype, name="loc")
            self._scale = tf.convert_to_tensor(scale, dtype=dtype, name="scale")
            self._coeffs = tf.convert_to_tensor(coeffs, dtype=dtype, name="coeffs")
            self._num_bins = int(num_bins)
            self._channels = int(self._loc.shape[-2])
            if not 1 <= self._channels <= 3:
                raise ValueError(f"A discretized logistic mixture models 1 to 3 channels. "
                                 f"Received: loc with {self._channels} channels")
            super().__init__(dtype=dtype, reparameterization_type=tfd.NOT_REPARAMETERIZED,
                             validate_args=validate_args, allow_nan_stats=allow_nan_stats,
                             parameters=parameters, name=name)

    @classmethod
    def _parameter_properties(cls, dtype, num_classes=None):
        return dict(
            logits=tfp.util.ParameterProperties(event_ndims=1),
            loc=tfp.util.ParameterProperties(event_ndims=2),
            scale=tfp.util.ParameterProperties(
                event_ndims=2,
                default_constraining_bijector_fn=lambda: tfp.bijectors.Softplus()),
            coeffs=tfp.util.ParameterProperties(event_ndims=2),
        )

    @property
    def logits(self):
        """Mixture logits `[..., K]`."""
        return self._logits

    @property
    def num_bins(self):
        """int. Levels per channel."""
        return self._num_bins

    def _event_shape(self):
        return tf.TensorShape([self._channels])

    def _event_shape_tensor(self):
        return tf.constant([self._channels], dtype=tf.int32)

    def _levels(self):
        return float(self._num_bins - 1)

    def _snap(self, x):
        return tf.round(tf.clip_by_value(x, 0.0, 1.0) * self._levels()) / self._levels()

    def channel_distribution(self, x):
        """The per-channel factors given the pixel `x`: a `tfd.QuantizedDistribution` with
        batch `[..., C, K]` over the level index 0..K-1, its locations shifted by `x`'s
        earlier channels."""
        levels = self._levels()
        loc = self._loc + channel_shift(self._coeffs, self._snap(x)[..., tf.newaxis],
                                        self._channels)
        # Quantizing L' = levels * L - 1/2 by ceiling gives P(j) = P(j - 1 < L' <= j), the
        # logistic's mass within half a level of j / levels: bins centred on the levels.
        return tfd.QuantizedDistribution(
            tfd.Logistic(loc * levels - 0.5, self._scale * levels),
            low=tf.constant(0.0, self.dtype), high=tf.constant(levels, self.dtype))

    def _per_channel_log_prob(self, x):
        """log P(x_c | component k, x_<c) `[..., C, K]` of pixels `x` `[..., C]`."""
        index = tf.round(tf.clip_by_value(x, 0.0, 1.0) * self._levels())  # [..., C]
        return self.channel_distribution(x).log_prob(index[..., tf.newaxis])

    def _log_prob(self, x):
        x = tf.convert_to_tensor(x, dtype=self.dtype)
        return self._mix(tf.reduce_sum(self._per_channel_log_prob(x), axis=-2))

    def _mix(self, log_components):
        """log sum_k pi_k exp(log_components[..., k])."""
        return tf.reduce_logsumexp(tf.nn.log_softmax(self._logits) + log_components, axis=-1)

    def log_prob_observed(self, x, observed):
        """log p of the observed channels of each pixel, `[...]`.

        Exact when a pixel's observed channels come first (a whole pixel, or red, or red
        and green); otherwise the later channels' shifts use `x`'s values of the missing
        earlier ones, an approximation.

        Args:
          x: float tensor `[..., C]`.
          observed: bool or 0/1 float tensor `[..., C]`.
        """
        x = tf.convert_to_tensor(x, dtype=self.dtype)
        weight = tf.cast(observed, self.dtype)[..., tf.newaxis]
        return self._mix(tf.reduce_sum(self._per_channel_log_prob(x) * weight, axis=-2))

    def _sample_n(self, n, seed=None):
        seeds = tfp.random.split_seed(seed, n=1 + self._channels)
        component = tfd.Categorical(logits=self._logits).sample(n, seed=seeds[0])  # [n, ...]
        onehot = tf.one_hot(component, tf.shape(self._logits)[-1], dtype=self.dtype)
        pick = lambda t: tf.reduce_sum(t * onehot[..., tf.newaxis, :], axis=-1)  # noqa: E731
        loc, scale = pick(self._loc), pick(self._scale)  # [n, ..., C]
        coeffs = pick(self._coeffs)[..., tf.newaxis]  # [n, ..., C, 1]
        tiny = np.finfo(np.float32).tiny
        values = []
        for c in range(self._channels):
            # The shift of channel c uses only the channels already drawn.
            drawn = tf.stack(values + [tf.zeros_like(loc[..., 0])] * (self._channels - c), -1)
            shift = channel_shift(coeffs, drawn[..., tf.newaxis], self._channels)[..., c, 0]
            u = tf.random.stateless_uniform(tf.shape(loc[..., c]), seed=seeds[1 + c],
                                            minval=tiny, maxval=1.0, dtype=self.dtype)
            logistic = loc[..., c] + shift + scale[..., c] * (tf.math.log(u) - tf.math.log1p(-u))
            values.append(self._snap(logistic))
        return tf.stack(values, axis=-1)

    def _mean(self):
        # Component means channel by channel, each shifted by the earlier channels' means:
        # exact for the first channel, and for the others wherever the clipped mean is
        # linear in the location (away from black and white).
        means = []
        for c in range(self._channels):
            earlier = tf.stack(means + [tf.zeros_like(self._loc[..., 0, :])]
                               * (self._channels - c), axis=-2)  # [..., C, K]
            shift = channel_shift(self._coeffs, earlier, self._channels)[..., c, :]
            means.append(clipped_logistic_mean(self._loc[..., c, :] + shift,
                                               self._scale[..., c, :]))
        weights = tf.nn.softmax(self._logits)[..., tf.newaxis, :]
        return tf.reduce_sum(tf.stack(means, axis=-2) * weights, axis=-1)


def mask_logits(logits, num_categories):
    """Logits with the entries past each column's `num_categories` pushed to a large
    negative value, so column j is a categorical over its own K_j classes.

    A finite floor rather than -inf keeps `log_softmax` and its gradient free of `0 * inf`.

    Args:
      logits: float tensor `[..., D, P]`.
      num_categories: int32 tensor `[D]`, K_j per column (0 for a continuous column).

    Returns:
      float tensor `[..., D, P]`, of `logits`' dtype.
    """
    classes = tf.range(tf.shape(logits)[-1])  # [P]
    valid = classes < num_categories[:, tf.newaxis]  # [D, P]
    return tf.where(valid, logits, tf.constant(-1e9, logits.dtype))


class MixedTabular(tfd.Distribution):
    """One row of tabular data: Gaussian continuous columns and categorical columns.

    Element-wise over `[batch, D]` (scalar events; wrap in `tfd.Independent` for rows).
    Column j is categorical when `num_categories[j] > 0`, with values the integer codes
    0 .. K_j - 1, and Gaussian otherwise; a Gaussian column with `log1p[j]` set is Gaussian
    in log(1 + x) instead (a shifted log-normal, for skewed non-negative columns such as
    populations or prices, as HI-VAE [1] models positive data).

    A NaN entry is missing: its log-probability is 0, so the log-probability of a row is
    that of its observed entries (log p(x_obs | z)).

    Math:
      The network works in standardised units u = (x - mean) / std. A continuous column is
      u ~ N(loc, scale), so in the data's own units x ~ N(mean + std loc, std scale) and
        log p(x) = log N(u; loc, scale) - log std        (change of variables),
      which is what is scored: densities (and NLL figures) are in the units of the data.
      A log1p column is y = log(1 + x) ~ N(mean + std loc, std scale), so
        log p(x) = log N(y; ...) - log(1 + x),       E[x] = exp(m + s^2 / 2) - 1,
      with m, s the location and scale of y: the mean is the log-normal's, not exp(m) - 1
      (the median), since imputations are judged by squared error in the data's units.
      A categorical column is Categorical(softmax(logits[:K_j])); its `mean()` and
      `mode()` are the most probable code, since the average of codes means nothing.

    Args:
      loc: float tensor `[..., D]`. Standardised location of the continuous columns.
      scale: float tensor `[..., D]`. Positive standardised scale.
      logits: float tensor `[..., D, P]`, `P >= max(num_categories)`.
      mean: float tensor `[D]`. Column means used for standardisation.
      std: float tensor `[D]`. Positive column standard deviations.
      num_categories: int tensor `[D]`. 0 for a continuous column, else K_j >= 2.
      log1p: bool tensor `[D]` or None. Continuous columns modelled in log(1 + x) units;
        `mean` and `std` are then those of log(1 + x). Defaults to none.

    References:
      [1] Nazábal, Olmos, Ghahramani, Valera. Handling incomplete heterogeneous data using
          VAEs. Pattern Recognition 2020.
    """

    def __init__(self, loc, scale, logits, mean, std, num_categories, log1p=None,
                 validate_args=False, allow_nan_stats=True, name="MixedTabular"):
        parameters = dict(locals())
        with tf.name_scope(name) as name:
            self._loc = tf.convert_to_tensor(loc, dtype_hint=tf.float32, name="loc")
            dtype = self._loc.dtype
            self._scale = tf.convert_to_tensor(scale, dtype=dtype, name="scale")
            self._num_categories = tf.convert_to_tensor(num_categories, tf.int32)
            self._logits = mask_logits(tf.convert_to_tensor(logits, dtype=dtype),
                                       self._num_categories)
            self._mean_x = tf.convert_to_tensor(mean, dtype=dtype)
            self._std_x = tf.convert_to_tensor(std, dtype=dtype)
            self._log1p = (tf.zeros_like(self._num_categories, tf.bool) if log1p is None
                           else tf.convert_to_tensor(log1p, tf.bool))
            super().__init__(dtype=dtype, reparameterization_type=tfd.NOT_REPARAMETERIZED,
                             validate_args=validate_args, allow_nan_stats=allow_nan_stats,
                             parameters=parameters, name=name)

    @classmethod
    def _parameter_properties(cls, dtype, num_classes=None):
        return dict(loc=tfp.util.ParameterProperties(),
                    scale=tfp.util.ParameterProperties(
                        default_constraining_bijector_fn=lambda: tfp.bijectors.Softplus()),
                    logits=tfp.util.ParameterProperties(event_ndims=1))

    def _batch_shape(self):
        return self._loc.shape

    def _batch_shape_tensor(self):
        return tf.shape(self._loc)

    def _event_shape(self):
        return tf.TensorShape([])

    def _event_shape_tensor(self):
        return tf.constant([], dtype=tf.int32)

    def _is_categorical(self):
        return self._num_categories > 0  # [D]

    def _continuous(self):
        """The Gaussian of each continuous column in its modelled units (x, or log(1 + x))."""
        return tfd.Normal(self._mean_x + self._std_x * self._loc, self._std_x * self._scale)

    def _categorical(self):
        return tfd.Categorical(logits=self._logits)

    def _codes(self, x):
        top = tf.cast(tf.maximum(self._num_categories - 1, 0), x.dtype)
        return tf.cast(tf.clip_by_value(tf.round(x), 0.0, top), tf.int32)

    def _to_modelled(self, x):
        """x in the continuous columns' modelled units: log(1 + x) where `log1p`."""
        # Clamped below -1 only on the unused branch, so no NaN reaches the gradient.
        safe = tf.where(self._log1p, tf.maximum(x, -1.0 + 1e-6), tf.zeros_like(x))
        return tf.where(self._log1p, tf.math.log1p(safe), x)

    def _log_prob(self, x):
        # NaN marks a missing entry: it contributes 0, so a row's log-probability is that
        # of its observed entries. NaN is replaced before scoring so that no NaN reaches
        # the gradient through the unused branch of `tf.where`.
        x = tf.convert_to_tensor(x, dtype=self.dtype)
        missing = tf.math.is_nan(x)
        x = tf.where(missing, tf.zeros_like(x), x)
        y = self._to_modelled(x)
        # Change of variables for log1p columns: dy/dx = 1 / (1 + x).
        continuous = self._continuous().log_prob(y) - tf.where(self._log1p, y, tf.zeros_like(y))
        categorical = self._categorical().log_prob(self._codes(x))
        log_prob = tf.where(self._is_categorical(), categorical, continuous)
        return tf.where(missing, tf.zeros_like(log_prob), log_prob)

    def _from_modelled(self, y):
        """The inverse of `_to_modelled`: exp(y) - 1 where `log1p`."""
        return tf.where(self._log1p, tf.math.expm1(tf.where(self._log1p, y, tf.zeros_like(y))), y)

    def continuous_mean(self):
        """The continuous columns' means in the data's units, `[..., D]` (the log-normal
        mean exp(m + s^2 / 2) - 1 for log1p columns)."""
        normal = self._continuous()
        location = normal.loc
        shifted = location + tf.where(self._log1p, 0.5 * tf.square(normal.scale), tf.zeros_like(location))
        return self._from_modelled(shifted)

    def category_probs(self):
        """Class probabilities of the categorical columns.

        Returns:
          float tensor `[..., D, P]`, summing to 1 over the last axis (zero past each
            column's classes; uniform and meaningless for a continuous column).
        """
        return tf.nn.softmax(self._logits, axis=-1)

    def _sample_n(self, n, seed=None):
        seed_c, seed_k = tfp.random.split_seed(seed)
        continuous = self._from_modelled(self._continuous().sample(n, seed=seed_c))
        categorical = tf.cast(self._categorical().sample(n, seed=seed_k), self.dtype)
        return tf.where(self._is_categorical(), categorical, continuous)

    def _mode(self):
        categorical = tf.cast(tf.argmax(self._logits, axis=-1), self.dtype)
        normal = self._continuous()
        # The log-normal's mode is exp(m - s^2) - 1.
        location = normal.loc - tf.where(self._log1p, tf.square(normal.scale), tf.zeros_like(normal.loc))
        return tf.where(self._is_categorical(), categorical, self._from_modelled(location))

    def _mean(self):
        # The most probable code for a categorical column (the average of codes is no code).
        categorical = tf.cast(tf.argmax(self._logits, axis=-1), self.dtype)
        return tf.where(self._is_categorical(), categorical, self.continuous_mean())
