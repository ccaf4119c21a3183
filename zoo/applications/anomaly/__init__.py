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

from zoo.applications.anomaly.detector import AnomalyDetector
from zoo.applications.anomaly.metrics import auprc, auroc
from zoo.applications.anomaly.scores import (EMBEDDING_KINDS, METRICS, PNG_CHANNELS,
                                             REFERENCE_SCORES, SCORES, anomaly_scores,
                                             embeddings, input_complexity, knn_distance,
                                             reference_scale)

__all__ = ["AnomalyDetector", "EMBEDDING_KINDS", "METRICS", "PNG_CHANNELS", "REFERENCE_SCORES",
           "SCORES", "anomaly_scores", "auprc", "auroc", "embeddings", "input_complexity",
           "knn_distance", "reference_scale"]
