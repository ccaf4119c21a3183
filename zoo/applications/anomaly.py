"""Anomaly detection with a trained model: scores, a calibrated detector, evaluation.

A model trained on normal data assigns anomalies low likelihood. Six scores, all
"higher = more anomalous", per example:
  - "elbo": the negative ELBO (nats), one posterior sample by default;
  - "iwae": the negative importance-weighted bound on log p(x) (nats), k samples; the
    tightest, and k times the cost;
  - "reconstruction": the error of the reconstruction (decoder mean at the posterior
    mean), mean squared over the example's entries; the usual autoencoder score;
  - "elbo_complexity" (images): the negative ELBO minus the example's input complexity,
    its size in nats once losslessly compressed as PNG (`input_complexity`). Likelihood
    models give simple inputs high likelihood whatever they were trained on, so a plain
    anomaly (a trouser among shirts) can look *more* normal than the data; subtracting
    a general-purpose compressor's code length keeps only what the model explains
    better than generic image statistics (Serrà et al., ICLR 2020).
  - "latent_knn": the mean Euclidean distance of the example's posterior mean
    (`model.embed`, flattened) to the `neighbours` nearest posterior means of a
    `reference` set of normal data: the kNN detector of Bergman, Cohen & Hoshen (2020),
    in the model's latent space instead of a pretrained network's. It needs the
    reference set (the normal training data, say); calibrate and evaluate it on other
    examples, since a reference example is at distance 0 from itself.
  - "feature_knn": the same search on the encoder's deterministic features
    (`model.features`, before the posterior head) instead of the posterior means: the
    wide convolutional features keep detail the few latents drop. Same reference set.
  Both kNN scores take `metric="seuclidean"` to divide every dimension by its standard
  deviation over the reference set first (the standardised Euclidean distance, scipy's
  "seuclidean"), so dimensions that vary little among normal examples weigh as much as
  those that vary a lot.

Scores can be combined: `AnomalyDetector(model, score=["feature_knn", "latent_knn",
"reconstruction"], ...)` standardises each on normal data (its mean and standard
deviation there) and averages them, so no one score's units dominate. Whether a
combination beats its best member depends on the data (the one-class benchmarks record
both outcomes): measure on yours.
Models can be combined the same way: `AnomalyDetector([model_a, model_b, model_c],
score="feature_knn", ...)` scores with each (the same recipe trained with other seeds,
say) and averages the standardised scores, an ensemble.

`AnomalyDetector` turns a score into a decision: `calibrate` on held-out *normal* data
sets the threshold so that at most `target_fpr` of normal data is flagged (the
ceil((n + 1)(1 - fpr))-th smallest normal score, which guarantees false-positive rate
<= fpr on exchangeable normal data, as in split conformal prediction); `evaluate`
reports AUROC, AUPRC and the rates at the threshold on labelled data.
"""

import math

import numpy as np

from zoo import validation

SCORES = ("elbo", "iwae", "reconstruction", "elbo_complexity", "latent_knn", "feature_knn")
# The vectors a kNN score can compare (the `kind` of `embeddings`) -> the model method
# that gives them.
EMBEDDING_KINDS = {"latent": "embed", "feature": "features"}
# The scores that compare an example with a reference set -> the kind they compare.
REFERENCE_SCORES = {"latent_knn": "latent", "feature_knn": "feature"}
# The distances a kNN score can use between embeddings.
METRICS = ("euclidean", "seuclidean")
# "seuclidean" floors each dimension's standard deviation at this share of the mean one,
# so a dimension (nearly) constant over the reference set, a unit no normal example
# activates, say, cannot blow a query's distance up without bound.
_MIN_RELATIVE_SCALE = 0.01
PNG_CHANNELS = (1, 2, 3, 4)
# Entries per block of the query-reference distance matrix: 2e7 float64 = 160 MB at most.
_KNN_BLOCK_ENTRIES = 20_000_000


def input_complexity(x):
    """Size of each image of `x` as a PNG file, in nats (bytes x 8 ln 2), shape `[n]`.

    The images are quantized to 8 bits (values in [0, 1] times 255, rounded) and encoded
    losslessly at the strongest deflate setting. The PNG header is the same for every
    image of one shape, so it shifts all scores equally and does not change a ranking.

    Args:
      x: array `[n, height, width, channels]` with values in [0, 1] and 1-4 channels.

    References:
      Serrà, Álvarez, Gómez, Slizovskaia, Núñez, Luque. Input complexity and
      out-of-distribution detection with likelihood-based generative models. ICLR 2020.
    """
    import tensorflow as tf  # only this score needs it; the rest of the module is numpy

    x = np.asarray(x)
    if x.ndim != 4 or x.shape[-1] not in PNG_CHANNELS:
        raise ValueError("input complexity needs images [n, height, width, channels] with 1-4 "
                         f"channels. Received: x.shape={list(x.shape)}")
    if not np.all(np.isfinite(x)):
        raise ValueError("input complexity needs pixel values in [0, 1]. Received: "
                         f"{int(np.sum(~np.isfinite(x)))} NaN or infinite values")
    if x.min(initial=0.0) < 0.0 or x.max(initial=0.0) > 1.0:
        raise ValueError("input complexity needs pixel values in [0, 1]. Received: range "
                         f"[{x.min()}, {x.max()}]")
    pixels = np.round(x * 255.0).astype(np.uint8)
    sizes = [len(tf.io.encode_png(image, compression=9).numpy()) for image in pixels]
    return np.asarray(sizes, dtype=np.float64) * 8.0 * math.log(2.0)


def _check_x(name, x):
    x = np.asarray(x)
    if x.ndim == 0 or len(x) == 0:
        raise ValueError(f"{name} must contain at least one example. Received: "
                         f"{name}.shape={list(x.shape)}")
    return x


def _check_scores(score):
    """`score` as a tuple of score names: one name of `SCORES`, or a list of distinct
    names to combine."""
    names = (score,) if isinstance(score, str) else score
    if not isinstance(names, (list, tuple)) or not names \
            or not all(isinstance(n, str) and n in SCORES for n in names):
        raise ValueError(f"score must be one of {list(SCORES)}, or a list of them to combine. "
                         f"Received: score={score!r}")
    if len(set(names)) != len(names):
        raise ValueError(f"score must list each score once. Received: score={score!r}")
    return tuple(names)


def _check_models(model):
    """`model` as a tuple of zoo models: one model, or a non-empty list of them."""
    from zoo.model import LatentVariableModel  # TensorFlow: only here

    models = tuple(model) if isinstance(model, (list, tuple)) else (model,)
    if not models:
        raise ValueError("model must be a zoo model, or a non-empty list of them. "
                         "Received: model=[]")
    for m in models:
        if not isinstance(m, LatentVariableModel):
            raise TypeError("model must be a zoo model (zoo.VAE, zoo.HVAE, ...), or a list of "
                            f"them. Received: {type(m).__name__} {m!r:.80}")
    return models


def _check_reference(score, reference, neighbours, metric="euclidean"):
    """The reference set, neighbour count and metric of `score` (a name, or a list of
    names), checked against each other."""
    metric = validation.one_of("metric", metric, METRICS)
    if not any(name in REFERENCE_SCORES for name in _check_scores(score)):
        if reference is not None:
            raise ValueError(f"reference is only used by the scores {list(REFERENCE_SCORES)}. "
                             f"Received: score={score!r} with a reference set")
        if metric != "euclidean":
            raise ValueError(f"metric is only used by the scores {list(REFERENCE_SCORES)}. "
                             f"Received: score={score!r} with metric={metric!r}")
        return None, None
    if reference is None:
        raise ValueError(f"score={score!r} compares each example with normal examples: pass "
                         "reference=<normal data>, e.g. the normal training examples. "
                         "Received: reference=None")
    reference = _check_x("reference", reference)
    neighbours = validation.positive_int("neighbours", neighbours)
    if neighbours > len(reference):
        raise ValueError(f"neighbours must be at most the number of reference examples "
                         f"({len(reference)}). Received: neighbours={neighbours}")
    return reference, neighbours


def embeddings(model, x, batch_size=500, kind="latent"):
    """Vectors a kNN score compares, as float64 `[n, dim]`: the posterior means
    `model.embed(x)` flattened (`kind="latent"`), or the encoder features
    `model.features(x)` (`kind="feature"`)."""
    kind = validation.one_of("kind", kind, EMBEDDING_KINDS)
    x = _check_x("x", x)
    batch_size = validation.positive_int("batch_size", batch_size)
    vectors = getattr(model, EMBEDDING_KINDS[kind])
    parts = [np.asarray(vectors(x[start:start + batch_size]), dtype=np.float64)
             for start in range(0, len(x), batch_size)]
    return np.concatenate([p.reshape(len(p), -1) for p in parts])


def reference_scale(reference):
    """Per-dimension scale of the "seuclidean" metric, `[d]`: the standard deviation of
    each column of `reference` `[m, d]`, floored at 1 % of their mean (1 if all are 0)."""
    std = np.std(np.asarray(reference, dtype=np.float64), axis=0)
    floor = _MIN_RELATIVE_SCALE * std.mean()
    return np.maximum(std, floor) if floor > 0 else np.ones_like(std)


def knn_distance(queries, reference, neighbours, scale=None):
    """Mean Euclidean distance of each row of `queries` `[n, d]` to its `neighbours`
    nearest rows of `reference` `[m, d]`, shape `[n]` (exact, by brute force in blocks).
    With `scale` `[d]`, both are divided by it first (see `reference_scale`)."""
    queries = np.asarray(queries, dtype=np.float64)
    reference = np.asarray(reference, dtype=np.float64)
    if scale is not None:
        queries, reference = queries / scale, reference / scale
    squared_reference = np.sum(reference**2, axis=1)
    block = max(1, _KNN_BLOCK_ENTRIES // len(reference))
    out = []
    for start in range(0, len(queries), block):
        q = queries[start:start + block]
        # |q - r|^2 = |q|^2 + |r|^2 - 2 q.r; rounding can make a zero distance slightly
        # negative, hence the floor.
        squared = np.maximum(np.sum(q**2, axis=1)[:, None] + squared_reference[None, :]
                             - 2.0 * q @ reference.T, 0.0)
        nearest = np.partition(squared, neighbours - 1, axis=1)[:, :neighbours]
        out.append(np.sqrt(nearest).mean(axis=1))
    return np.concatenate(out)


def anomaly_scores(model, x, score="elbo", num_samples=None, seed=0, batch_size=500,
                   reference=None, neighbours=2, metric="euclidean"):
    """Per-example anomaly scores of `x` as a numpy array `[n]`, higher = more anomalous.

    Args:
      model: a zoo model.
      x: array `[n, *input_shape]`.
      score: str. One of `SCORES` (see the module docstring). Defaults to "elbo".
      num_samples: int. Posterior samples: averaged for the ELBO (default 1), importance
        samples for "iwae" (default 100); unused for "reconstruction" and the kNN scores.
      seed: int. Seed of the posterior samples. Defaults to 0.
      batch_size: int. Examples per pass. Defaults to 500.
      reference: array `[m, *input_shape]` of normal examples, for the kNN scores
        ("latent_knn", "feature_knn") only.
      neighbours: int. Nearest reference examples averaged by the kNN scores. Defaults to 2.
      metric: str. Distance of the kNN scores: "euclidean", or "seuclidean" (each
        dimension divided by its standard deviation over `reference`). Defaults to
        "euclidean".
    """
    if not isinstance(score, str) or score not in SCORES:
        raise ValueError(f"score must be one of {list(SCORES)}. Received: score={score!r}"
                         + ("" if isinstance(score, str) else ". To combine scores, use "
                            "AnomalyDetector(model, score=[...]): it standardises them on "
                            "normal data"))
    batch_size = validation.positive_int("batch_size", batch_size)
    x = _check_x("x", x)
    reference, neighbours = _check_reference(score, reference, neighbours, metric)
    if score in REFERENCE_SCORES:
        kind = REFERENCE_SCORES[score]
        reference = embeddings(model, reference, batch_size, kind)
        return knn_distance(embeddings(model, x, batch_size, kind), reference, neighbours,
                            reference_scale(reference) if metric == "seuclidean" else None)
    return _per_batch_scores(model, x, score, num_samples, seed, batch_size)


def _per_batch_scores(model, x, score, num_samples, seed, batch_size):
    out = []
    for i, start in enumerate(range(0, len(x), batch_size)):
        part = x[start:start + batch_size]
        part_seed = seed + i
        if score in ("elbo", "elbo_complexity"):
            values = -np.asarray(model.elbo(part, num_samples=num_samples or 1, seed=part_seed))
            if score == "elbo_complexity":
                values = values - input_complexity(part)
        elif score == "iwae":
            values = -model.log_likelihood(part, num_samples=num_samples or 100, seed=part_seed)
        else:
            recon = np.asarray(model.reconstruct(part))
            values = np.mean(np.reshape((recon - part) ** 2, (len(part), -1)), axis=1)
        out.append(np.asarray(values, dtype=np.float64))
    return np.concatenate(out)


def _labels(name, labels, n):
    labels = np.asarray(labels)
    if labels.shape != (n,):
        raise ValueError(f"{name} must have one entry per example, shape [{n}]. "
                         f"Received: {name}.shape={list(labels.shape)}")
    if not np.all((labels == 0) | (labels == 1)):
        raise ValueError(f"{name} must hold 0 (normal) and 1 (anomaly). Received: values "
                         f"{np.unique(labels[(labels != 0) & (labels != 1)])[:5].tolist()}")
    labels = labels.astype(bool)
    if labels.all() or not labels.any():
        raise ValueError(f"{name} must contain both normal (0) and anomalous (1) examples. "
                         f"Received: {int(labels.sum())} anomalies of {n}")
    return labels


def auroc(scores, labels):
    """Area under the ROC curve: the probability that a random anomaly scores above a
    random normal example, ties counting one half (the Mann-Whitney U statistic)."""
    scores = np.asarray(scores, dtype=np.float64)
    labels = _labels("labels", labels, len(scores))
    # Average ranks of tied scores, 1-based.
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    average = first + (counts + 1) / 2.0
    ranks[order] = np.repeat(average, counts)
    n_pos, n_neg = labels.sum(), (~labels).sum()
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def auprc(scores, labels):
    """Area under the precision-recall curve as average precision: the mean, over the
    anomalies, of the precision among examples scoring at least as high (ties broken
    pessimistically, so a constant score gets the anomaly rate)."""
    scores = np.asarray(scores, dtype=np.float64)
    labels = _labels("labels", labels, len(scores))
    all_sorted, positive_sorted = np.sort(scores), np.sort(scores[labels])
    at_or_above = len(scores) - np.searchsorted(all_sorted, scores[labels], side="left")
    positives_at_or_above = len(positive_sorted) - np.searchsorted(positive_sorted, scores[labels],
                                                                    side="left")
    return float(np.mean(positives_at_or_above / at_or_above))


class AnomalyDetector:
    """A score, or several combined, with a threshold calibrated on normal data.

    Example:
        detector = zoo.applications.anomaly.AnomalyDetector(model, score="elbo", target_fpr=0.05)
        detector.calibrate(x_normal_validation)
        flags = detector.predict(x_new)                 # bool [n]
        report = detector.evaluate(x_test, is_anomaly)  # auroc, auprc, fpr, tpr, threshold

    A list of scores is combined: `calibrate` draws half of `x_normal` (at random, by
    `seed`) to measure each score's mean and standard deviation on normal data, and sets
    the threshold on the other half, so the threshold's guarantee holds for the combined
    score as for one. The combined score is the mean of the standardised scores, and only
    exists once calibrated.

    A list of models is an ensemble (the same recipe trained with different seeds, say):
    every score is computed with every model, and all of them are standardised and
    averaged the same way. Models that err on different examples can average out each
    other's mistakes (Lakshminarayanan et al., NeurIPS 2017, for predictive
    uncertainty); models that err alike gain nothing: measure on your data.

    Args:
      model: a trained zoo model, or a list of them to use as an ensemble.
      score: str, one of `SCORES`, or a list of them to combine. Defaults to "elbo".
      target_fpr: float in (0, 1). Largest share of normal data to flag. Defaults to 0.05.
      num_samples: int or None. See `anomaly_scores` (used by "elbo", "iwae" and
        "elbo_complexity").
      seed: int. Seed of the scores and of the calibration split. Defaults to 0.
      reference: array of normal examples, for the kNN scores only (see `anomaly_scores`);
        embedded once, on first use.
      neighbours: int. See `anomaly_scores`. Defaults to 2.
      metric: str. See `anomaly_scores`. Defaults to "euclidean".
    """

    def __init__(self, model, score="elbo", target_fpr=0.05, num_samples=None, seed=0,
                 reference=None, neighbours=2, metric="euclidean"):
        self.models = _check_models(model)
        self.scores = _check_scores(score)
        self.reference, self.neighbours = _check_reference(score, reference, neighbours, metric)
        self.metric = metric
        # (model index, kind) -> (embeddings of the reference, their metric scale or None)
        self._reference_embeddings = {}
        if isinstance(target_fpr, bool) or not isinstance(target_fpr, (int, float)) \
                or not 0.0 < float(target_fpr) < 1.0:
            raise ValueError(f"target_fpr must be a number in (0, 1). Received: target_fpr={target_fpr!r}")
        self.model = model
        self.score_name = "+".join(self.scores) + (f" (ensemble of {len(self.models)})"
                                                   if len(self.models) > 1 else "")
        self.target_fpr, self.num_samples, self.seed = float(target_fpr), num_samples, seed
        self.threshold = None
        self.location = self.scale = None  # the scores' mean and std on normal data (combined)

    @property
    def combined(self):
        """True if the detector averages several standardised scores (or models)."""
        return len(self.scores) * len(self.models) > 1

    def _member_scores(self, x):
        """Each model's each score of `x`, shape `[len(models) * len(scores), n]`."""
        x = _check_x("x", x)
        out = []
        for i, model in enumerate(self.models):
            for name in self.scores:
                if name in REFERENCE_SCORES:
                    key = (i, REFERENCE_SCORES[name])
                    if key not in self._reference_embeddings:
                        reference = embeddings(model, self.reference, kind=key[1])
                        self._reference_embeddings[key] = (
                            reference,
                            reference_scale(reference) if self.metric == "seuclidean" else None)
                    reference, scale = self._reference_embeddings[key]
                    out.append(knn_distance(embeddings(model, x, kind=key[1]), reference,
                                            self.neighbours, scale))
                else:
                    out.append(anomaly_scores(model, x, name, self.num_samples, self.seed))
        return np.stack(out)

    def _combine(self, members):
        if not self.combined:
            return members[0]
        return np.mean((members - self.location[:, None]) / self.scale[:, None], axis=0)

    def score(self, x):
        """Anomaly scores of `x`, higher = more anomalous."""
        if self.combined and self.location is None:
            raise ValueError(f"The combined score {self.score_name} standardises its scores on "
                             "normal data: call calibrate(x_normal) first.")
        return self._combine(self._member_scores(x))

    def calibrate(self, x_normal):
        """Sets the threshold (and, for combined scores, the standardisation) from
        held-out normal data; returns the threshold."""
        members = self._member_scores(x_normal)
        n, combined = members.shape[1], self.combined
        if combined:
            order = np.random.default_rng(self.seed).permutation(n)
            fit, members = members[:, order[:n // 2]], members[:, order[n // 2:]]
        # The threshold is the ceil((m + 1)(1 - fpr))-th smallest of m normal scores: it
        # exists from m = ceil(1 / fpr) - 1 on. A combined score spends half of x_normal
        # (at least 2 examples) on the standardisation first.
        rank = math.ceil((members.shape[1] + 1) * (1.0 - self.target_fpr))
        if rank > members.shape[1] or combined and n < 4:
            needed = math.ceil(1.0 / self.target_fpr) - 1
            needed = max(2 * needed - 1, 4) if combined else needed
            raise ValueError(f"x_normal is too small for target_fpr={self.target_fpr}"
                             f"{' with a combined score' if combined else ''}: it needs at "
                             f"least {needed} examples. Received: {n}")
        if combined:
            location, scale = fit.mean(axis=1), fit.std(axis=1)
            if not np.all(scale > 0):
                names = [name + (f" of model {i}" if len(self.models) > 1 else "")
                         for i in range(len(self.models)) for name in self.scores]
                constant = [name for name, v in zip(names, scale) if not v > 0]
                raise ValueError(f"Cannot standardise the scores {constant}: they are constant "
                                 "on x_normal.")
            self.location, self.scale = location, scale
        self.threshold = float(np.sort(self._combine(members))[rank - 1])
        return self.threshold

    def predict(self, x):
        """True where an example scores above the threshold (an anomaly)."""
        if self.threshold is None:
            raise ValueError("The detector has no threshold yet: call calibrate(x_normal) first.")
        return self.score(x) > self.threshold

    def evaluate(self, x, is_anomaly):
        """AUROC and AUPRC of the score, and the false- and true-positive rates at the
        threshold (if calibrated), on labelled data."""
        scores = self.score(x)
        labels = _labels("is_anomaly", is_anomaly, len(scores))
        report = {"score": self.score_name, "num_models": len(self.models),
                  "auroc": auroc(scores, labels),
                  "auprc": auprc(scores, labels), "num_examples": int(len(scores)),
                  "num_anomalies": int(labels.sum())}
        if self.threshold is not None:
            flagged = scores > self.threshold
            report.update(threshold=self.threshold, fpr=float(flagged[~labels].mean()),
                          tpr=float(flagged[labels].mean()))
        return report
