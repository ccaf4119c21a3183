"""Anomaly and out-of-distribution detection with a trained model: scores, a calibrated
detector, evaluation.

**The likelihood trap.** A likelihood model gives simple inputs a high likelihood whatever
it was trained on: `vae_fashion_mnist` rates MNIST digits as *more* likely than its own
test garments (worse than a coin at telling digits are foreign), because a digit
is mostly black background, which any image model explains cheaply (Nalisnick et al.,
ICLR 2019). Raw likelihood ("elbo", "iwae") is therefore no out-of-distribution test.
The default score, "sample_knn", does not fall into it; the corrections of the
literature are here too, each measured in `benchmarks/quality/ood.py`.

Ten scores, all "higher = more anomalous", per example:
  - "sample_knn" (the default): the mean Euclidean distance of the example's encoder
    features (`model.features`) to those of its 5 nearest among 5,000 of the model's own
    samples (`model_samples`: decoder means at prior draws, drawn once per model and
    weights). The model's samples stand for what it has learnt; an input unlike all of
    them is foreign, however likely its pixels. It needs no data besides the model.
  - "elbo": the negative ELBO (nats), one posterior sample by default; the trap above.
  - "iwae": the negative importance-weighted bound on log p(x) (nats), k samples; the
    tightest, the same trap, and k times the cost.
  - "reconstruction": the error of the reconstruction (decoder mean at the posterior
    mean), mean squared over the example's entries; the usual autoencoder score.
  - "elbo_complexity" (images): the negative ELBO minus the example's input complexity,
    its size in nats once losslessly compressed (`input_complexity`, PNG or, with
    `compressor="webp"`, WebP lossless, the stronger of the two). Subtracting a general
    compressor's code length keeps only what the model explains better than generic
    image statistics (Serrà et al., ICLR 2020).
  - "typicality": the distance of the negative ELBO from its mean over a `reference`
    set of normal data: an input is foreign if its likelihood is atypically high *or*
    low (the one-example typicality test of Nalisnick et al., 2019, arXiv:1906.02994).
  - "likelihood_ratio": the model's negative ELBO minus that of a `background` model of
    the same configuration trained on perturbed normal data (`train_background`), which
    learns the generic statistics and not the semantics (Ren et al., NeurIPS 2019).
  - "level_ratio" (hierarchical models): `level_elbo(x, 0) - level_elbo(x, levels)`,
    what the lowest `levels` latent groups explain of `x` beyond what the upper ones do,
    when drawn from their conditional prior instead of the posterior: the LLR^{>k} of
    Havtorn et al. (ICML 2021). Low-level features generalise across datasets; a
    foreign input needs its own low-level code.
  - "latent_knn": the mean Euclidean distance of the example's posterior mean
    (`model.embed`, flattened) to the `neighbours` nearest posterior means of a
    `reference` set of normal data: the kNN detector of Bergman, Cohen & Hoshen (2020),
    in the model's latent space instead of a pretrained network's. It needs the
    reference set (the normal training data, say); calibrate and evaluate it on other
    examples, since a reference example is at distance 0 from itself.
  - "feature_knn": the same search on the encoder's deterministic features instead of
    the posterior means: the wide convolutional features keep detail the few latents
    drop. Same reference set. With normal data at hand it is the strongest score here.
  The kNN scores take `metric="seuclidean"` to divide every dimension by its standard
  deviation over the reference first (the standardised Euclidean distance, scipy's
  "seuclidean"), so dimensions that vary little among normal examples weigh as much as
  those that vary a lot.

Which to use: "sample_knn" when all you have is the model; "feature_knn" when you also
have normal examples (the training data); "elbo" or "iwae" only to rank examples *of the
training population* (a one-class task, say), never to reject foreign inputs.

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

from zoo.applications.anomaly.background import perturb, train_background
from zoo.applications.anomaly.detector import AnomalyDetector
from zoo.applications.anomaly.metrics import auprc, auroc, fpr_at_tpr
from zoo.applications.anomaly.scores import (COMPRESSORS, DEFAULT_SCORE, EMBEDDING_KINDS,
                                             KNN_SCORES, METRICS, PNG_CHANNELS, REFERENCE_SCORES,
                                             SAMPLE_REFERENCE_SIZE, SCORES, anomaly_scores,
                                             embeddings, input_complexity, knn_distance,
                                             model_samples, reference_scale, sample_reference)

__all__ = ["AnomalyDetector", "COMPRESSORS", "DEFAULT_SCORE", "EMBEDDING_KINDS", "KNN_SCORES",
           "METRICS", "PNG_CHANNELS", "REFERENCE_SCORES", "SAMPLE_REFERENCE_SIZE", "SCORES",
           "anomaly_scores", "auprc", "auroc", "embeddings", "fpr_at_tpr", "input_complexity",
           "knn_distance", "model_samples", "perturb", "reference_scale", "sample_reference",
           "train_background"]
