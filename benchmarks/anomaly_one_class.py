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
    nats, the input-complexity correction of Serrà et al. (ICLR 2020).

    VAEZOO_DATA_DIR=../shared/data python benchmarks/anomaly_one_class.py --dataset mnist
    VAEZOO_DATA_DIR=../shared/data python benchmarks/anomaly_one_class.py --dataset fashion_mnist

Per-class results and models are kept in runs/anomaly_<dataset>/ as they finish, so an
interrupted run resumes at the next class, and a score added later is computed from the
kept model (a class without one is retrained and all its scores recomputed). Writes
benchmarks/results/anomaly_<dataset>.json and .md.
"""

import argparse
import json
import os
import sys
import time

import common
import keras
import numpy as np

import zoo
from zoo import anomaly, io_utils, training

EPOCHS, LATENT_DIM, VALIDATION_SHARE, TARGET_FPR = 30, 16, 0.1, 0.05
SCORES = {"elbo": 8, "iwae": 32, "reconstruction": None,
          "elbo_complexity": 8}  # score -> posterior samples
PUBLISHED = {"mnist": [("Deep SVDD (Ruff et al. 2018)", 0.948)],
             "fashion_mnist": []}


def build_model(seed):
    return zoo.VAE(input_shape=(28, 28, 1), latent_dim=LATENT_DIM, network="conv",
                   hidden_dims=(32, 64), likelihood="bernoulli", seed=seed)


def run_class(c, x_train, y_train, x_test, y_test, epochs, model_path, figures=None):
    """Trains on class `c` (or loads the model kept at `model_path`) and returns its
    figures: those in `figures` plus every score of SCORES missing from them."""
    normal = x_train[y_train == c]
    num_validation = int(len(normal) * VALIDATION_SHARE)
    fit_x, validation_x = normal[:-num_validation], normal[-num_validation:]
    figures = dict(figures or {})
    if os.path.exists(model_path):
        model = zoo.load_model(model_path)
    else:  # every score from the one model: earlier figures of another training go
        figures = {}
        keras.utils.set_random_seed(c)
        model = build_model(seed=c)
        model.compile(optimizer=keras.optimizers.Adam(1e-3))
        start = time.perf_counter()
        model.fit(zoo.data.from_arrays(fit_x, batch_size=128, shuffle=True, seed=c), epochs=epochs,
                  verbose=0)
        figures["train_seconds"] = time.perf_counter() - start
        training.save_model(model, model_path)
    is_anomaly = (y_test != c).astype(np.int64)
    figures.update({"class": int(c), "train_images": int(len(fit_x))})
    for score, num_samples in SCORES.items():
        if score in figures:
            continue
        detector = anomaly.AnomalyDetector(model, score=score, target_fpr=TARGET_FPR,
                                           num_samples=num_samples, seed=0)
        detector.calibrate(validation_x)
        figures[score] = detector.evaluate(x_test, is_anomaly)
    return figures


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="mnist", choices=["mnist", "fashion_mnist"])
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--classes", type=int, nargs="*", default=list(range(10)))
    args = parser.parse_args(argv)
    x_train, y_train = zoo.data.load_numpy(args.dataset, "train")
    x_test, y_test = zoo.data.load_numpy(args.dataset, "test")
    run_dir = os.path.join("runs", f"anomaly_{args.dataset}")
    os.makedirs(run_dir, exist_ok=True)

    per_class = {}
    for c in args.classes:
        path = os.path.join(run_dir, f"class_{c}_epochs_{args.epochs}.json")
        figures = None
        if os.path.exists(path):
            with open(path) as f:
                figures = json.load(f)
        if figures is None or any(s not in figures for s in SCORES):
            figures = run_class(c, x_train, y_train, x_test, y_test, args.epochs,
                                os.path.join(run_dir, f"class_{c}_epochs_{args.epochs}.keras"), figures)
            io_utils.write_json(path, figures)
        per_class[c] = figures
        print(c, {s: round(per_class[c][s]["auroc"], 4) for s in SCORES}, flush=True)

    rows = []
    for c in args.classes:
        f = per_class[c]
        rows.append([c] + [f"{f[s]['auroc']:.4f}" for s in SCORES]
                    + [f"{f[s]['fpr']:.3f} / {f[s]['tpr']:.3f}" for s in ("elbo", "reconstruction")])
    means = {s: float(np.mean([per_class[c][s]["auroc"] for c in args.classes])) for s in SCORES}
    rows.append(["**mean**"] + [f"**{means[s]:.4f}**" for s in SCORES] + ["", ""])
    rows += [[name] + [f"{value:.3f}"] + [""] * (len(SCORES) + 1) for name, value in PUBLISHED[args.dataset]]
    common.write_results(
        f"anomaly_{args.dataset}",
        {"dataset": args.dataset, "protocol": "one class normal, the other nine anomalous; "
                                              "AUROC on the 10,000 test images",
         "model": build_model(0).get_config(), "epochs": args.epochs, "target_fpr": TARGET_FPR,
         "scores": {s: {"num_samples": n} for s, n in SCORES.items()},
         "mean_auroc": means, "per_class": {str(c): per_class[c] for c in args.classes},
         "published": dict(PUBLISHED[args.dataset])},
        rows, ["normal class", "AUROC −ELBO", "AUROC −log p(x) (k=32)", "AUROC reconstruction",
               "AUROC −ELBO − PNG code length",
               f"FPR / TPR at the −ELBO threshold (target FPR {TARGET_FPR})",
               "FPR / TPR at the reconstruction threshold"],
        command="python benchmarks/anomaly_one_class.py " + " ".join(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
