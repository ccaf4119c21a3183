"""Observation models p(x | z): Keras layers that turn decoder outputs into distributions.

A likelihood owns the last step of a decoder. The decoder network emits
`num_params` numbers per data dimension, shape `[batch, *event_shape, num_params]`; the
likelihood turns them into a `tfd.Independent` distribution whose event shape is the
data shape, so `log_prob(x)` is one number per example, in nats.

Distributions are built in float32 even under a mixed-precision policy: log-densities
summed over hundreds of pixels lose too much in float16.
"""

import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from zoo import validation
from zoo import distributions

tfd = tfp.distributions


class Likelihood(keras.layers.Layer):
    """Base class: maps decoder parameters to a distribution over one example.

    Subclasses set `num_params` and `support` and implement `_base_distribution`.
    """

    #: Numbers the decoder must emit per data dimension.
    num_params = 1
    #: Allowed data values: "real" or "unit_interval" (see `zoo.validation`).
    support = "real"
    #: Whether NaN marks a missing entry (scored as unobserved) rather than bad input.
    allows_missing = False
    #: Whether uint8 input means 8-bit pixels, scaled to [0, 1] (not for tables).
    takes_pixels = True

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.event_shape = None

    def build(self, event_shape):
        """Records `event_shape`, the shape of one example (the model's `input_shape`)."""
        self.event_shape = tuple(event_shape)

    def encoder_input_shape(self, event_shape):
        """Shape of one example as the encoder sees it (see `encoder_input`).

        Returns:
          tuple of int, without the batch axis: `event_shape` itself by default.
        """
        return tuple(event_shape)

    def encoder_input(self, x):
        """What the encoder sees of a batch `x`.

        Returns:
          tensor `[batch, *encoder_input_shape]`: `x` itself, except for `Tabular`.
        """
        return x

    def check_values(self, name, values):
        """Raises a `ValueError` naming `name` if numpy `values` are outside the support
        beyond what `support` says (e.g. categorical codes). Nothing to check by default."""

    def prepare(self, name, x):
        """`x` as the model takes it: a table becomes rows here (`Tabular`); arrays pass.

        Args:
          name: str. The argument's name, for error messages.
          x: the user's input.

        Returns:
          `x` unchanged (rows for a table, with `Tabular`).

        Raises:
          TypeError: `x` is a table and this likelihood does not take tables.
        """
        from zoo import tables

        if tables.is_table(x):
            raise TypeError(f"{name} is a table, but this model was not trained on one (its "
                            f"likelihood is {type(self).__name__}). Received: {name} with "
                            f"columns {list(x.columns)[:8]}")
        return x

    def point_statistics(self, p_x):
        """What imputation averages over draws of z: the decoder mean by default (see
        `point_estimate`).

        Args:
          p_x: the distribution returned by `distribution`.

        Returns:
          float32 tensor `[batch, *statistics_shape(event_shape)]`.
        """
        return p_x.mean()

    def statistics_shape(self, event_shape):
        """Shape of one example's `point_statistics`: `event_shape` by default."""
        return tuple(event_shape)

    def point_estimate(self, statistics):
        """A value of the data from averaged `point_statistics`: the mean itself by default.
        Categorical data take the most probable class of the averaged probabilities instead:
        averaging class codes would give a code that is no class.

        Returns:
          tensor `[batch, *event_shape]`, in the data's units.
        """
        return statistics

    def valid_values(self, x):
        """Imputed values snapped to what the data can hold: unchanged by default.

        Returns:
          `x` (numpy or tensor), shaped like `x`.
        """
        return x

    def constrain(self, x):
        """Graph op: draws fed back into an imputation chain, kept where the data can be
        (unchanged by default). Without it a chain on unbounded columns can run away: an
        extreme draw gives an extreme code, whose decoder gives a more extreme draw.

        Returns:
          tensor shaped like `x`.
        """
        return x

    def log_prob_observed(self, p_x, x, observed):
        """log p(x_obs | z): the log-probability of the observed entries of each example.

        Args:
          p_x: the distribution returned by `distribution`.
          x: float tensor `[batch, *event_shape]` (any value where unobserved).
          observed: bool tensor `[batch, *event_shape]`, True where `x` is observed.

        Returns:
          float32 tensor `[batch]`, in nats. The entries are independent given z, so this
            is the sum of the observed entries' own log-probabilities.
        """
        per_entry = p_x.distribution.log_prob(x)
        weight = tf.cast(observed, per_entry.dtype)
        return tf.reduce_sum(per_entry * weight, axis=tf.range(1, tf.rank(per_entry)))

    def distribution(self, params):
        """Returns p(x | params): a distribution with batch `[batch]`, event `event_shape`.

        Args:
          params: decoder output `[batch, *event_shape, num_params]` (cast to float32).

        Returns:
          A `tfd.Independent` whose `log_prob(x)` is `[batch]`, in nats.
        """
        params = tf.cast(params, tf.float32)
        base = self._base_distribution(params)
        return tfd.Independent(base, reinterpreted_batch_ndims=len(self.event_shape))

    def _base_distribution(self, params):
        raise NotImplementedError


@keras.saving.register_keras_serializable(package="vaezoo")
class Bernoulli(Likelihood):
    """Bernoulli pixels for binary (or [0, 1] grey-level) data; the decoder emits logits.

    Grey levels in (0, 1) are scored with the same cross-entropy formula, the usual
    relaxation for non-binarized images, but only binary data gives a normalized
    likelihood comparable with published NLL figures.
    """

    num_params = 1
    support = "unit_interval"

    def _base_distribution(self, params):
        return tfd.Bernoulli(logits=params[..., 0], dtype=tf.float32)


@keras.saving.register_keras_serializable(package="vaezoo")
class Gaussian(Likelihood):
    """Gaussian observations with a learned scale, for continuous and tabular data.

    Args:
      scale: str. `"shared"`: one learned scale per data dimension, shared by all
        examples (homoscedastic). `"predicted"`: the decoder emits a scale for every
        dimension of every example (heteroscedastic). Defaults to `"shared"`.
      min_scale: float. Floor on the scale, which keeps the density bounded when the
        data has (near-)constant dimensions. Defaults to 1e-3.
    """

    support = "real"

    def __init__(self, scale="shared", min_scale=1e-3, **kwargs):
        super().__init__(**kwargs)
        self.scale = validation.one_of("scale", scale, ("shared", "predicted"))
        self.min_scale = validation.positive_float("min_scale", min_scale)
        self.num_params = 2 if self.scale == "predicted" else 1

    def build(self, event_shape):
        """Records `event_shape` and, with a shared scale, creates its weight."""
        super().build(event_shape)
        # Deserialization builds the layer from its build config before the model builds
        # it again: the weight must be made once.
        if self.scale == "shared" and not self.built:
            # softplus(0.5413) = 1: start from unit scale.
            self.raw_scale = self.add_weight(
                name="raw_scale", shape=self.event_shape,
                initializer=keras.initializers.Constant(0.5413), dtype="float32",
            )

    def _scale(self, raw):
        return tf.math.softplus(raw) + self.min_scale

    def _base_distribution(self, params):
        if self.scale == "predicted":
            scale = self._scale(params[..., 1])
        else:
            scale = tf.broadcast_to(self._scale(tf.cast(self.raw_scale, tf.float32)),
                                    tf.shape(params[..., 0]))
        return tfd.Normal(loc=params[..., 0], scale=scale)

    def get_config(self):
        """The constructor arguments, for saving."""
        return {**super().get_config(), "scale": self.scale, "min_scale": self.min_scale}


@keras.saving.register_keras_serializable(package="vaezoo")
class DiscretizedLogistic(Likelihood):
    """Discretized logistic over 8-bit intensities scaled to [0, 1] (PixelCNN++ style).

    The decoder emits a location and a raw log-scale per data dimension. See
    `zoo.distributions.DiscretizedLogistic` for the math.

    Args:
      num_bins: int. Intensity levels. Defaults to 256.
      min_log_scale: float. Floor on the log-scale, as in PixelCNN++. Defaults to -7.
      max_log_scale: float. Ceiling on the log-scale. Defaults to 1: a scale of e is
        nearly flat over [0, 1], and far larger ones make float32 lose a bin's mass
        (log p = -inf; see `DiscretizedLogisticMixture`).
    """

    num_params = 2
    support = "unit_interval"

    def __init__(self, num_bins=256, min_log_scale=-7.0, max_log_scale=1.0, **kwargs):
        super().__init__(**kwargs)
        self.num_bins = validation.positive_int("num_bins", num_bins)
        if self.num_bins < 2:
            raise ValueError(f"num_bins must be >= 2. Received: num_bins={num_bins}")
        self.min_log_scale = float(min_log_scale)
        self.max_log_scale = float(max_log_scale)
        if not self.min_log_scale < self.max_log_scale:
            raise ValueError(f"max_log_scale must be above min_log_scale ({min_log_scale}). "
                             f"Received: max_log_scale={max_log_scale!r}")

    def _base_distribution(self, params):
        # The location is unconstrained: edge bins absorb the tails, so a loc beyond
        # [0, 1] is how the model puts almost all mass on pure black or white.
        log_scale = tf.clip_by_value(params[..., 1], self.min_log_scale, self.max_log_scale)
        return distributions.DiscretizedLogistic(
            loc=params[..., 0], scale=tf.exp(log_scale), num_bins=self.num_bins
        )

    def get_config(self):
        """The constructor arguments, for saving."""
        return {**super().get_config(), "num_bins": self.num_bins,
                "min_log_scale": self.min_log_scale, "max_log_scale": self.max_log_scale}


@keras.saving.register_keras_serializable(package="vaezoo")
class DiscretizedLogisticMixture(Likelihood):
    """A mixture of discretized logistics per pixel, channels correlated (PixelCNN++).

    For 8-bit images `[height, width, channels]` with 1 to 3 channels; see
    `zoo.distributions.DiscretizedLogisticMixture` for the math. Where one logistic per
    channel (`DiscretizedLogistic`) must spread its mass over every colour a blurry decoder
    is unsure of, K components can put it on a few, and their channel coefficients let
    a component say "grey" or "sky blue" rather than three independent intensities.

    The decoder emits `4 K` numbers per channel: per component a share of the mixture
    logit (summed over the pixel's channels), a raw location (0.5 + tanh: within
    (-0.5, 1.5)), a raw log-scale (kept softly between `min_log_scale` and
    `max_log_scale` by two softplus functions) and a
    raw channel coefficient (tanh-squashed; slot c feeds the shifts of the channels after
    it, unused for grey images). Twelve numbers per component and pixel against
    PixelCNN++'s ten: the layout stays "numbers per data dimension", which every decoder
    of the zoo emits.

    Args:
      num_components: int. K. Defaults to 5.
      num_bins: int. Levels per channel. Defaults to 256.
      min_log_scale: float. Soft floor on the log-scale. Defaults to -7, PixelCNN++'s.
      initial_log_scale: float. The log-scale where a raw output of 0 lands (to within
        0.02 with the default ceiling). Defaults to -3 (a scale of 1/20, about 13 levels):
        starting at 0 (a scale of 1, wider than the data's range) cost thousands of steps
        of moving the decoder's bias there.
      max_log_scale: float. Soft ceiling on the log-scale. Defaults to 1 (a scale of e,
        nearly flat over the data's range: nothing is lost above it). Without one, a
        diverging step can send scales to 1e11 and more, where float32 cannot tell the
        CDF on either side of a bin apart and the log-probability is -inf (seen in the
        first steps of a CIFAR-10 VAE at Adam's 1e-3).
    """

    support = "unit_interval"

    def __init__(self, num_components=5, num_bins=256, min_log_scale=-7.0,
                 initial_log_scale=-3.0, max_log_scale=1.0, **kwargs):
        super().__init__(**kwargs)
        self.num_components = validation.positive_int("num_components", num_components)
        self.initial_log_scale = float(initial_log_scale)
        self.max_log_scale = float(max_log_scale)
        if not float(min_log_scale) < self.initial_log_scale < self.max_log_scale:
            raise ValueError(f"initial_log_scale must lie between min_log_scale ({min_log_scale}) "
                             f"and max_log_scale ({max_log_scale}). Received: "
                             f"initial_log_scale={initial_log_scale!r}")
        self.num_bins = validation.positive_int("num_bins", num_bins)
        if self.num_bins < 2:
            raise ValueError(f"num_bins must be >= 2. Received: num_bins={num_bins}")
        self.min_log_scale = float(min_log_scale)
        self.num_params = 4 * self.num_components

    def build(self, event_shape):
        """Checks that `event_shape` is an image `(height, width, 1 to 3 channels)`."""
        event_shape = tuple(event_shape)
        if len(event_shape) != 3 or not 1 <= event_shape[-1] <= 3:
            raise ValueError("A discretized logistic mixture models images (height, width, "
                             "channels) with 1 to 3 channels. Received: input_shape="
                             f"{event_shape}")
        super().build(event_shape)

    def distribution(self, params):
        """p(x | params): `tfd.Independent` over the pixels, batch `[batch]`.

        Args:
          params: decoder output `[batch, height, width, channels, 4 K]`.
        """
        params = tf.cast(params, tf.float32)
        k = self.num_components
        # Bounded, smooth parameters: a location in (-0.5, 1.5), starting at mid-grey, can
        # still put all its mass in the black or white bin but cannot run away after a
        # large step; the log-scale's floor is a softplus, not a hard maximum, whose zero
        # gradient left pixels stuck at the floor with losses of thousands of nats.
        base = distributions.DiscretizedLogisticMixture(
            logits=tf.reduce_sum(params[..., :k], axis=-2),
            loc=0.5 + tf.tanh(params[..., k:2 * k]),
            scale=tf.exp(self.log_scale(params[..., 2 * k:3 * k])),
            coeffs=tf.tanh(params[..., 3 * k:]),
            num_bins=self.num_bins)
        return tfd.Independent(base, reinterpreted_batch_ndims=len(self.event_shape) - 1)

    def log_scale(self, raw):
        """The components' log-scales from the decoder's raw outputs: a softplus floor at
        `min_log_scale`, then a softplus ceiling at `max_log_scale`; smooth, so that no
        gradient is cut at either bound."""
        floored = self.min_log_scale + distributions.stable_softplus(
            raw + self.initial_log_scale - self.min_log_scale)
        return self.max_log_scale - distributions.stable_softplus(self.max_log_scale - floored)

    def log_prob_observed(self, p_x, x, observed):
        """log p(x_obs | z) `[batch]`, exact for masks of whole pixels (see
        `zoo.distributions.DiscretizedLogisticMixture.log_prob_observed`)."""
        per_pixel = p_x.distribution.log_prob_observed(x, observed)
        return tf.reduce_sum(per_pixel, axis=tf.range(1, tf.rank(per_pixel)))

    def get_config(self):
        """The constructor arguments, for saving."""
        return {**super().get_config(), "num_components": self.num_components,
                "num_bins": self.num_bins, "min_log_scale": self.min_log_scale,
                "initial_log_scale": self.initial_log_scale, "max_log_scale": self.max_log_scale}


@keras.saving.register_keras_serializable(package="vaezoo")
class Tabular(Likelihood):
    """Rows of tabular data: Gaussian continuous columns and categorical columns, with the
    standardisation stored in the model.

    Data are vectors `[batch, D]` in their own units; a categorical column holds integer
    codes 0 .. K-1. The column means and standard deviations are part of the layer's
    config, so a saved model (`.keras`, preset, export) scores and samples raw rows with no
    preprocessing outside it. Build one from training data with `Tabular.from_data`.

    - Continuous column: Gaussian in standardised units with a learned scale per column;
      its log-density is reported in the data's units (see
      `zoo.distributions.MixedTabular` for the change of variables).
    - Skewed non-negative column (listed in `log1p`): Gaussian in log(1 + x), i.e. a shifted
      log-normal, so a few huge values (city populations, incomes) do not dominate the fit;
      its imputation is the log-normal mean, the estimate with the least squared error.
    - Categorical column with K classes: a categorical over the first K of the decoder's
      `num_params` outputs; `mean()` is the most probable code.
    - The encoder sees standardised continuous columns followed by one-hot categories,
      so a code's numeric value never acts as a magnitude.
    - Missing entries are NaN: they are left out of log p(x | z) (the likelihood of the
      observed entries, as in MIWAE [1] and HI-VAE [2]) and the encoder sees them as 0 (a
      standardised column's mean) or an all-zero one-hot.
    - Built from a table (`Tabular.from_table`), it holds the table's `zoo.tables.TableSchema`:
      the model then takes DataFrames wherever it takes rows, and `impute` gives back a
      DataFrame of the table's own values.

    References:
      [1] Mattei, Frellsen. MIWAE: Deep generative modelling and imputation of incomplete
          data sets. ICML 2019.
      [2] Nazábal, Olmos, Ghahramani, Valera. Handling incomplete heterogeneous data using
          VAEs. Pattern Recognition 2020.

    Args:
      mean: sequence of D floats. Column means (ignored for categorical columns).
      std: sequence of D positive floats. Column standard deviations.
      categorical: dict `{column: num_categories}` (or `[[column, K], ...]`), K >= 2.
        Defaults to none: all columns continuous, i.e. a standardised Gaussian.
      min_scale: float. Floor on the standardised scale. Defaults to 1e-3.
      schema: `zoo.tables.TableSchema` or its config, or None. The table's columns; its
        categorical columns must match `categorical`. Defaults to None (plain rows).
      log1p: sequence of continuous column indices modelled in log(1 + x) units (their
        values must be > -1; `mean` and `std` are then those of log(1 + x)). Defaults to
        the schema's `"transform": "log1p"` columns, or none.
      missing_indicators: bool. The encoder also sees, per continuous column, whether the
        entry is missing: a missing number is otherwise indistinguishable from one at the
        column's mean. Defaults to True.
    """

    support = "real"
    allows_missing = True
    takes_pixels = False

    def __init__(self, mean, std, categorical=None, min_scale=1e-3, schema=None, log1p=None,
                 missing_indicators=True, **kwargs):
        super().__init__(**kwargs)
        from zoo import tables

        if isinstance(schema, dict):
            schema = tables.TableSchema.from_config(schema)
        if schema is not None and not isinstance(schema, tables.TableSchema):
            raise TypeError(f"schema must be a zoo.tables.TableSchema. Received: schema={schema!r}")
        self.schema = schema
        self.mean = [float(m) for m in validation.finite_vector("mean", mean)]
        self.std = [float(s) for s in validation.finite_vector("std", std)]
        if len(self.std) != len(self.mean):
            raise ValueError(f"std must have one entry per column ({len(self.mean)}). "
                             f"Received: std with {len(self.std)} entries")
        if min(self.std) <= 0:
            raise ValueError(f"std must be positive. Received: std={self.std}")
        self.categorical = _categorical_columns(categorical, len(self.mean))
        self.min_scale = validation.positive_float("min_scale", min_scale)
        self.missing_indicators = validation.boolean("missing_indicators", missing_indicators)
        self.num_categories = [self.categorical.get(j, 0) for j in range(len(self.mean))]
        self.num_params = max([1, *self.num_categories])
        self._continuous = [j for j, k in enumerate(self.num_categories) if k == 0]
        if schema is not None:
            if len(schema.columns) != len(self.mean) or schema.categorical != self.categorical:
                raise ValueError(
                    f"schema does not match the columns: {len(schema.columns)} columns with "
                    f"categorical {schema.categorical}, against {len(self.mean)} with "
                    f"categorical {self.categorical}")
        if log1p is None:
            log1p = schema.log1p_columns if schema is not None else []
        try:
            self.log1p = sorted({int(j) for j in log1p})
        except (TypeError, ValueError) as err:
            raise TypeError(f"log1p must be a sequence of column indices. Received: log1p={log1p!r}") from err
        bad = [j for j in self.log1p if j not in self._continuous]
        if bad:
            raise ValueError(f"log1p must list continuous columns of 0..{len(self.mean) - 1}. "
                             f"Received: log1p={self.log1p}")

    @classmethod
    def from_data(cls, x, categorical=None, **kwargs):
        """A `Tabular` likelihood standardised with the column statistics of `x`.

        Args:
          x: array `[n, D]`, n >= 2, in the data's units; NaN marks a missing entry, and
            each column needs an observed one.
          categorical: as in the constructor.
          **kwargs: other constructor arguments.

        Returns:
          A new `Tabular`; a constant column gets unit spread.

        Raises:
          ValueError: too few rows, an unobserved column, or bad categorical codes.
        """
        x = np.asarray(validation.check_data("x", x, (None,), allow_missing=True))
        if x.shape[0] < 2:
            raise ValueError(f"x needs at least 2 rows to estimate a spread. Received: x.shape={list(x.shape)}")
        with np.errstate(all="ignore"):
            observed = np.sum(~np.isnan(x), axis=0)
        if np.any(observed == 0):
            raise ValueError(f"x has columns with no observed value: {np.flatnonzero(observed == 0).tolist()}")
        log1p = kwargs.get("log1p") or []
        if not all(isinstance(j, (int, np.integer)) and 0 <= j < x.shape[1] for j in log1p):
            raise ValueError(f"log1p must list continuous columns of 0..{x.shape[1] - 1}. "
                             f"Received: log1p={log1p!r}")
        log1p = sorted(set(int(j) for j in log1p))
        if log1p and np.nanmin(x[:, log1p]) <= -1:
            raise ValueError(f"x has values <= -1 in the log1p columns {log1p}: log(1 + x) is undefined")
        modelled = x.copy()
        modelled[:, log1p] = np.log1p(modelled[:, log1p])
        mean, std = np.nanmean(modelled, axis=0), np.nanstd(modelled, axis=0)
        # A constant column keeps unit spread: dividing by ~0 would blow its density up.
        std = np.where(std > 1e-8, std, 1.0)
        layer = cls(mean, std, categorical=categorical, **kwargs)
        layer.check_values("x", x)
        return layer

    @classmethod
    def from_table(cls, table, types=None, max_categories=None, transforms=None, **kwargs):
        """A `Tabular` likelihood for a table with its schema fitted on it
        (`zoo.tables.TableSchema.infer`) and its standardisation.

        Args:
          table: a pandas DataFrame or a `.csv` / `.parquet` path.
          types, max_categories, transforms: as in `zoo.tables.TableSchema.infer`.
          **kwargs: other constructor arguments.

        Returns:
          A new `Tabular` holding the schema; `likelihood.schema.encode(table)` gives
            the model's rows.
        """
        from zoo import tables

        schema = tables.TableSchema.infer(table, types=types,
                                          max_categories=max_categories or tables.MAX_CATEGORIES,
                                          transforms=transforms)
        rows = schema.encode(table)
        mean, std = schema.statistics(rows)
        return cls(mean, std, categorical=schema.categorical, schema=schema, **kwargs)

    def prepare(self, name, x):
        """`x` as the model takes it: a table is encoded by `schema` (numpy float32
        `[n, D]`, NaN for missing cells); arrays pass unchanged."""
        if self.schema is not None:
            from zoo import tables

            if tables.is_table(x):
                return self.schema.encode(x)
        return super().prepare(name, x)

    def build(self, event_shape):
        """Checks that `event_shape` is `(D,)` and creates the per-column scale weight."""
        if tuple(event_shape) != (len(self.mean),):
            raise ValueError(
                f"Tabular likelihood was made for rows of {len(self.mean)} columns. "
                f"Received: input_shape={tuple(event_shape)}")
        super().build(event_shape)
        if self.built:  # built already from its build config when deserialized
            return
        # softplus(0.5413) = 1: start from unit standardised scale.
        self.raw_scale = self.add_weight(name="raw_scale", shape=self.event_shape,
                                         initializer=keras.initializers.Constant(0.5413),
                                         dtype="float32")

    def encoder_input_shape(self, event_shape):
        """`(continuous columns + total categories,)`: the width of `encoder_input`."""
        return (len(self._continuous) * (1 + self.missing_indicators) + sum(self.num_categories),)

    def encoder_input(self, x):
        """Standardised continuous columns, then one-hot categories.

        Args:
          x: rows `[batch, D]` in the data's units, NaN for missing entries.

        Returns:
          float32 tensor `[batch, *encoder_input_shape]`.
        """
        # Missing (NaN) entries: 0 in standardised units (the column mean) or no category.
        x = tf.cast(x, tf.float32)
        parts = []
        if self._continuous:
            idx = self._continuous
            mean = tf.constant([self.mean[j] for j in idx], tf.float32)
            std = tf.constant([self.std[j] for j in idx], tf.float32)
            values = tf.gather(x, idx, axis=-1)
            if self.log1p:
                is_log = tf.constant([j in self.log1p for j in idx])
                # NaN (missing) passes through log1p as NaN and is zeroed below.
                values = tf.where(is_log, tf.math.log1p(tf.where(is_log, values, 0.0)), values)
            standard = (values - mean) / std
            parts.append(tf.where(tf.math.is_nan(standard), tf.zeros_like(standard), standard))
            if self.missing_indicators:
                parts.append(tf.cast(tf.math.is_nan(standard), tf.float32))
        for j, k in sorted(self.categorical.items()):
            column = x[..., j]
            code = tf.cast(tf.clip_by_value(tf.round(tf.where(tf.math.is_nan(column), 0.0, column)),
                                            0.0, k - 1.0), tf.int32)
            one_hot = tf.one_hot(code, k, dtype=tf.float32)
            parts.append(tf.where(tf.math.is_nan(column)[..., None], tf.zeros_like(one_hot), one_hot))
        return tf.concat(parts, axis=-1)

    def check_values(self, name, values):
        """Raises a `ValueError` naming `name` unless every observed categorical entry of
        numpy `values` `[n, D]` is an integer code 0 .. K-1 and every log1p entry is > -1."""
        for j, k in sorted(self.categorical.items()):
            column = values[..., j]
            column = column[~np.isnan(column)]
            bad = (column != np.round(column)) | (column < 0) | (column > k - 1)
            if np.any(bad):
                raise ValueError(
                    f"{name}[:, {j}] is categorical with {k} classes and must hold integer "
                    f"codes 0..{k - 1}. Received: value {column[bad].flat[0]:g}")
        for j in self.log1p:
            column = values[..., j]
            with np.errstate(invalid="ignore"):
                bad = column <= -1
            if np.any(bad):
                raise ValueError(f"{name}[:, {j}] is modelled as log(1 + x) and must be > -1. "
                                 f"Received: value {column[bad].flat[0]:g}")

    def distribution(self, params):
        """Returns p(x | params) over rows.

        Args:
          params: decoder output `[batch, D, num_params]`: the standardised location in
            `[..., 0]`, class logits in `[..., :K]` for a categorical column.

        Returns:
          A `tfd.Independent` over `zoo.distributions.MixedTabular`: `log_prob(x)` is
            `[batch]`, in nats in the data's units, over the observed entries.
        """
        params = tf.cast(params, tf.float32)
        scale = tf.broadcast_to(tf.math.softplus(tf.cast(self.raw_scale, tf.float32)) + self.min_scale,
                                tf.shape(params[..., 0]))
        base = distributions.MixedTabular(
            loc=params[..., 0], scale=scale, logits=params, mean=self.mean, std=self.std,
            num_categories=self.num_categories,
            log1p=[j in self.log1p for j in range(len(self.mean))])
        return tfd.Independent(base, reinterpreted_batch_ndims=1)

    def point_statistics(self, p_x):
        """The continuous mean, then the class probabilities, per column.

        Returns:
          float32 tensor `[batch, D, num_params + 1]`.
        """
        base = p_x.distribution
        return tf.concat([base.continuous_mean()[..., None], base.category_probs()], axis=-1)

    def statistics_shape(self, event_shape):
        """`(D, num_params + 1)`: see `point_statistics`."""
        return (*event_shape, self.num_params + 1)

    def point_estimate(self, statistics):
        """Rows `[batch, D]` from averaged `point_statistics`: the mean of a continuous
        column, the most probable code of a categorical one."""
        is_categorical = tf.constant([k > 0 for k in self.num_categories])
        most_probable = tf.cast(tf.argmax(statistics[..., 1:], axis=-1), statistics.dtype)
        return tf.where(is_categorical, most_probable, statistics[..., 0])

    def constrain(self, x):
        """Rows `[batch, D]` clipped to each column's training range (without a schema,
        ten standard deviations around the mean; codes 0 .. K-1 for categories)."""
        # The training range of each column (codes 0..K-1 for categories); without a schema,
        # ten standard deviations around the mean.
        if self.schema is not None:
            lo = [c.get("min", 0.0) for c in self.schema.columns]
            hi = [c.get("max", len(c.get("categories", [])) - 1.0) for c in self.schema.columns]
        else:
            lo = [m - 10.0 * s if k == 0 else 0.0 for m, s, k in zip(self.mean, self.std, self.num_categories)]
            hi = [m + 10.0 * s if k == 0 else k - 1.0 for m, s, k in zip(self.mean, self.std, self.num_categories)]
            for j in self.log1p:  # the range was in log(1 + x) units
                lo[j], hi[j] = float(np.expm1(lo[j])), float(np.expm1(min(hi[j], 80.0)))
        return tf.clip_by_value(x, tf.constant(lo, x.dtype), tf.constant(hi, x.dtype))

    def valid_values(self, x):
        """Imputed rows snapped to values the table can hold (see `TableSchema.valid_rows`).

        Returns:
          numpy float32 shaped like `x` (`[..., D]`) with a schema; `x` unchanged
            without one.
        """
        return self.schema.valid_rows(np.asarray(x)) if self.schema is not None else x

    @classmethod
    def from_config(cls, config):
        """The layer from `get_config()`'s dict. Configs saved before the missing-value
        indicators existed lack the key and load as they were trained (without them)."""
        return cls(**{"missing_indicators": False, **config})

    def get_config(self):
        """The constructor arguments, the schema as its config, for saving."""
        return {**super().get_config(), "mean": self.mean, "std": self.std,
                "categorical": [[j, k] for j, k in sorted(self.categorical.items())],
                "min_scale": self.min_scale, "log1p": self.log1p,
                "missing_indicators": self.missing_indicators,
                "schema": self.schema.get_config() if self.schema is not None else None}


def _categorical_columns(categorical, num_columns):
    """`{column: K}` from a dict or `[[column, K], ...]`, checked against `num_columns`."""
    if categorical is None:
        return {}
    try:
        pairs = categorical.items() if isinstance(categorical, dict) else [tuple(p) for p in categorical]
        columns = {int(j): int(k) for j, k in pairs}
    except (TypeError, ValueError) as err:
        raise TypeError("categorical must be a dict {column: num_categories}. "
                        f"Received: categorical={categorical!r}") from err
    for j, k in columns.items():
        if not 0 <= j < num_columns or k < 2:
            raise ValueError(
                f"categorical needs columns in [0, {num_columns}) with at least 2 classes each. "
                f"Received: categorical={categorical!r}")
    return columns


_BY_NAME = {
    "bernoulli": Bernoulli,
    "gaussian": Gaussian,
    "discretized_logistic": DiscretizedLogistic,
    "discretized_logistic_mixture": DiscretizedLogisticMixture,
}


def get(identifier):
    """Returns a likelihood layer from a name (`"bernoulli"`, ...), a config dict or a layer.

    Args:
      identifier: "bernoulli", "gaussian", "discretized_logistic" or
        "discretized_logistic_mixture" (a new layer with
        default arguments), a serialised `Likelihood` config, or a `Likelihood` (returned
        as is).

    Returns:
      A `Likelihood`.

    Raises:
      ValueError: anything else.
    """
    if isinstance(identifier, Likelihood):
        return identifier
    if isinstance(identifier, str):
        return _BY_NAME[validation.one_of("likelihood", identifier, tuple(_BY_NAME))]()
    if isinstance(identifier, dict):
        layer = keras.saving.deserialize_keras_object(identifier)
        if isinstance(layer, Likelihood):
            return layer
    raise ValueError(
        f"likelihood must be one of {sorted(_BY_NAME)} or a zoo.likelihoods.Likelihood. "
        f"Received: likelihood={identifier!r}"
    )
