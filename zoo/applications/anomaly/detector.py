"""A score turned into a decision: a threshold calibrated on normal data."""

import math

import numpy as np

from zoo.applications.anomaly.metrics import auprc, auroc, check_labels
from zoo.applications.anomaly.scores import (DEFAULT_SCORE, _check_models, _check_scores,
                                             _check_x, check_options, prepare, score_with)


class AnomalyDetector:
    """A score, or several combined, with a threshold calibrated on normal data.

    Example:
        detector = zoo.applications.anomaly.AnomalyDetector(model, target_fpr=0.05)
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
      score: str, one of `SCORES`, or a list of them to combine. Defaults to "sample_knn",
        which needs nothing but the model and passes the out-of-distribution benchmark in
        both directions (raw likelihood, "elbo", does not: see the package docstring).
      target_fpr: float in (0, 1). Largest share of normal data to flag. Defaults to 0.05.
      num_samples, seed, reference, neighbours, metric, compressor, background, levels:
        see `anomaly_scores`; each may only be set for the scores that use it. The seed
        also draws the calibration split. What a score computes before any example (the
        reference embeddings, say) is computed once, on first use.
    """

    def __init__(self, model, score=DEFAULT_SCORE, target_fpr=0.05, num_samples=None, seed=0,
                 reference=None, neighbours=None, metric="euclidean", compressor="png",
                 background=None, levels=1):
        self.models = _check_models(model)
        self.scores = _check_scores(score)
        self.options = check_options(score, self.models, num_samples, seed, reference=reference,
                                     neighbours=neighbours, metric=metric, compressor=compressor,
                                     background=background, levels=levels)
        self._prepared = {}  # (model index, score) -> what `prepare` computed
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
        x = _check_x("x", x, self.models[0])
        out = []
        for i, model in enumerate(self.models):
            for name in self.scores:
                if (i, name) not in self._prepared:
                    self._prepared[i, name] = prepare(model, name, self.options)
                out.append(score_with(model, x, name, self.options, self._prepared[i, name],
                                      model_index=i))
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
        labels = check_labels("is_anomaly", is_anomaly, len(scores))
        report = {"score": self.score_name, "num_models": len(self.models),
                  "auroc": auroc(scores, labels),
                  "auprc": auprc(scores, labels), "num_examples": int(len(scores)),
                  "num_anomalies": int(labels.sum())}
        if self.threshold is not None:
            flagged = scores > self.threshold
            report.update(threshold=self.threshold, fpr=float(flagged[~labels].mean()),
                          tpr=float(flagged[labels].mean()))
        return report
