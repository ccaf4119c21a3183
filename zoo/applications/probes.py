"""A model's representations for a downstream task: a classifier fit on them ("a probe").

    probe = zoo.applications.probes.fit_probe(model, x_labelled, y_labelled)   # encoder features
    probe.score(x_test, y_test)                                                # accuracy
    probe.predict(x_new)

Three representations (`features=`):
  - "features": the encoder's deterministic features before the posterior head
    (`model.features`), wide (3,136 numbers for the MNIST presets' conv encoders) and
    label-free, also for conditional models. The default: with 1,000 labelled MNIST
    images a logistic regression on them scores 12 points above one on the pixels (see
    the embeddings benchmark);
  - "embed": the posterior mean (`model.embed`), flattened: the compact code;
  - "pixels": the input itself, flattened (the baseline any representation must beat).
Three probes (`probe=`), from scikit-learn, each after per-column standardisation fit on
the labelled set: "logistic" (multinomial logistic regression), "knn" (5 nearest
neighbours) and "svm" (an RBF support-vector machine, C = 10).
"""

import numbers

import numpy as np

from zoo import validation

FEATURES = ("features", "embed", "pixels")
PROBES = ("logistic", "knn", "svm")


def _estimator(probe, seed):
    try:
        from sklearn.linear_model import LogisticRegression
        from sklearn.neighbors import KNeighborsClassifier
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler
        from sklearn.svm import SVC
    except ImportError as err:
        raise ImportError("fit_probe needs scikit-learn: pip install scikit-learn") from err
    estimator = {"logistic": lambda: LogisticRegression(max_iter=2000),
                 "knn": lambda: KNeighborsClassifier(n_neighbors=5),
                 "svm": lambda: SVC(C=10.0, random_state=seed)}[probe]()
    return make_pipeline(StandardScaler(), estimator)


def representation(model, x, features="features", batch_size=500):
    """The vectors a probe reads, float64 `[n, dim]` numpy.

    Args:
      model: a zoo model.
      x: array `[n, *input_shape]`.
      features: one of `FEATURES`. Defaults to "features".
      batch_size: int. Examples per pass. Defaults to 500.

    Raises:
      ValueError: an unknown `features`, or "embed" for a conditional model (its posterior
        mean needs the label a probe is meant to predict).
    """
    features = validation.one_of("features", features, FEATURES)
    batch_size = validation.positive_int("batch_size", batch_size)
    x = np.asarray(model.check_input("x", x))  # checked once: shape, dtype, finite
    if features == "pixels":
        return np.asarray(x, np.float64).reshape(len(x), -1)
    if features == "embed" and model.num_classes:
        raise ValueError("features='embed' of a conditional model needs the label a probe is "
                         "meant to predict; use features='features' (the label-free encoder "
                         "features). Received: features='embed'")
    compute = model.features if features == "features" else model.embed
    parts = [np.asarray(compute(x[start:start + batch_size]), np.float64)
             for start in range(0, len(x), batch_size)]
    return np.concatenate([p.reshape(len(p), -1) for p in parts])


class Probe:
    """A classifier over a model's representation; takes inputs as the model does.

    Attributes:
      model: the zoo model whose representation is read.
      features: str. The representation (see `FEATURES`).
      pipeline: the fitted scikit-learn pipeline (standardisation, then the classifier),
        for use on `representation(model, x, features)` directly.
    """

    def __init__(self, model, features, pipeline, batch_size):
        self.model, self.features, self.pipeline = model, features, pipeline
        self._batch_size = batch_size

    def _vectors(self, x):
        return representation(self.model, x, self.features, self._batch_size)

    def predict(self, x):
        """Predicted classes of `x` `[n, *input_shape]`, `[n]`."""
        return self.pipeline.predict(self._vectors(x))

    def score(self, x, y):
        """Accuracy on `x` with true classes `y`."""
        return float(self.pipeline.score(self._vectors(x), _check_y(y, len(x))))


def _check_y(y, n):
    if isinstance(y, (str, bytes)):
        raise TypeError(f"y must be an array of class labels. Received: y={y!r}")
    y = np.asarray(y)
    if y.ndim != 1 or len(y) != n:
        raise ValueError(f"y must hold one label per example ({n}). Received: y.shape={list(y.shape)}")
    return y


def fit_probe(model, x, y, features="features", probe="logistic", batch_size=500, seed=0):
    """Fits a classifier of `y` on `model`'s representation of `x`.

    Args:
      model: a trained zoo model.
      x: array `[n, *input_shape]`, the labelled examples.
      y: array `[n]` of class labels (ints or strings), at least two classes.
      features: one of `FEATURES`. Defaults to "features".
      probe: one of `PROBES`. Defaults to "logistic".
      batch_size: int. Examples per model pass. Defaults to 500.
      seed: int. Seed of the SVM's internal randomness. Defaults to 0.

    Returns:
      A fitted `Probe`.

    Raises:
      ValueError: unknown `features` or `probe`, `y` of the wrong length or with one class.
      ImportError: scikit-learn is not installed.
    """
    probe = validation.one_of("probe", probe, PROBES)
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"seed must be an integer. Received: seed={seed!r}")
    vectors = representation(model, x, features, batch_size)
    y = _check_y(y, len(vectors))
    if len(np.unique(y)) < 2:
        raise ValueError(f"y must hold at least two classes. Received: only {np.unique(y).tolist()}")
    pipeline = _estimator(probe, int(seed)).fit(vectors, y)
    return Probe(model, features, pipeline, batch_size)
