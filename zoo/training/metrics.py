"""Training metrics of the zoo's models."""

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="vaezoo")
class TermMeans(keras.metrics.Metric):
    """Running, batch-size-weighted means of several scalar terms of a step, as one metric.

    A model's step reports several scalars (loss, reconstruction, KL, active units, per
    group KLs, ...). One `keras.metrics.Mean` each costs a handful of graph ops per term
    and step; on a small model on CPU that is a measurable part of the step
    (see the throughput benchmark). This keeps one vector of totals and one count, so a step
    adds two variable updates however many terms there are.

    `result()` returns a dict name -> mean, which Keras merges into the logs (the
    progress bar, `History`, callbacks) as if each term were its own metric.

    Args:
      names: sequence of str. The terms, in the order of the totals vector.
      name: str. The metric's own name (not shown in the logs).
      dtype: dtype of the state.
    """

    def __init__(self, names, name="terms", dtype=None):
        super().__init__(name=name, dtype=dtype)
        names = tuple(names)
        if not names or not all(isinstance(n, str) and n for n in names) or len(set(names)) != len(names):
            raise ValueError(f"names must be distinct non-empty strings. Received: names={names!r}")
        self.names = names
        self.totals = self.add_variable(shape=(len(names),), initializer="zeros", name="totals")
        self.count = self.add_variable(shape=(), initializer="zeros", name="count")

    def update_state(self, terms, sample_weight=1.0):
        """Adds `sample_weight` times each term; `terms` maps every name to a scalar."""
        missing = [n for n in self.names if n not in terms]
        if missing:
            raise KeyError(f"{self.name}: terms has no {missing}. Received keys: {sorted(terms)}")
        values = tf.stack([tf.cast(terms[n], self.dtype) for n in self.names])
        weight = tf.cast(sample_weight, self.dtype)
        self.totals.assign_add(values * weight)
        self.count.assign_add(weight)

    def result(self):
        """dict `{name: float32 scalar}`, the weighted mean of each term so far (0 before
        any update)."""
        means = tf.math.divide_no_nan(self.totals, self.count)
        return dict(zip(self.names, tf.unstack(means, num=len(self.names))))

    def get_config(self):
        """The constructor arguments, for saving."""
        return {"names": list(self.names), "name": self.name, "dtype": self.dtype}
