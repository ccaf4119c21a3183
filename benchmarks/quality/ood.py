"""Out-of-distribution detection with every preset: which scores survive the likelihood trap.

A model of Fashion-MNIST gives MNIST digits a *higher* likelihood than its own test
images (Nalisnick et al. 2019): simple inputs are likely under any image model. This
benchmark scores, for each preset, its own test images (normal) against four foreign
sets, and reports per score AUROC, AUPRC and the false-positive rate at 95 % true
positives:
  - the other dataset (MNIST for a Fashion model and the other way round);
  - uniform noise; constant images; the inverted test images (1 - x).
Images reach a model as it was trained: binarized (one fixed draw) for the presets
trained on binarized images, grey otherwise. The default score's threshold is also
calibrated (`AnomalyDetector(model).calibrate` on other normal test images, 5 % target
false-positive rate), and its realised rates are reported.

    export VAEZOO_DATA_DIR=../shared/data
    python benchmarks/quality/ood.py                            # all presets, ~1 h on 2 cores
    python benchmarks/quality/ood.py --presets vae_mnist --num-test 200 --background-epochs 0   # a quick look

Writes benchmarks/results/quality/ood.json and .md. The background models of the
likelihood-ratio score are kept in runs/ood/ (reused on a rerun).
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # benchmarks/, for common

import common
import numpy as np

import zoo
from zoo import io_utils
from zoo.applications import anomaly

PRESETS = ("vae_mnist", "vae_fashion_mnist", "hvae_mnist", "hvae_fashion_mnist",
           "flow_vae_mnist", "flow_vae_fashion_mnist", "vaegan_mnist", "vaegan_fashion_mnist")
OOD_SETS = ("other", "noise", "constant", "inverted")
# Goals for the default score, keyed by the data the model was trained on: a Fashion
# model must flag MNIST at AUROC >= 0.95, an MNIST model Fashion at >= 0.99, and no
# other foreign set may fall below 0.9.
GOALS = {"fashion_mnist": 0.95, "mnist": 0.99, "any": 0.9}


def default_passes(preset, sets):
    """Whether the default score's AUROCs (`sets`: name -> figures) meet the goals."""
    return bool(sets["other"]["auroc"] >= GOALS[dataset_of(preset)]
                and all(sets[s]["auroc"] >= GOALS["any"] for s in OOD_SETS[1:]))
PUBLISHED = [
    # (paper, model, score, Fashion-MNIST -> MNIST AUROC), as reported there.
    ("Havtorn et al. 2021", "HVAE (3 levels)", "LLR^{>k} level ratio", 0.984),
    ("Ren et al. 2019", "PixelCNN++", "likelihood ratio vs background", 0.994),
]
REFERENCE_SIZE = 10_000  # normal training images for the scores that need a reference


def dataset_of(preset):
    return "fashion_mnist" if "fashion" in preset else "mnist"


def binarize(x, seed):
    """One fixed Bernoulli draw per pixel (what `zoo.data` calls static binarization)."""
    return (np.random.default_rng(seed).random(x.shape) < x).astype(np.float32)


def ood_sets(preset, model, n, data_dir):
    """Normal test images, held-out normal images for calibration, a reference set of
    training images, and the foreign sets, all as the model takes them."""
    name = dataset_of(preset)
    other = "mnist" if name == "fashion_mnist" else "fashion_mnist"
    grey = {d: zoo.data.load_numpy(d, f"test[:{2 * n}]", data_dir=data_dir)[0] for d in (name, other)}
    train = zoo.data.load_numpy(name, f"train[:{REFERENCE_SIZE}]", data_dir=data_dir)[0]
    binary = bool(model.binarize)
    prepare = (lambda x, seed: binarize(x, seed)) if binary else (lambda x, seed: x)
    rng = np.random.default_rng(0)
    if binary:  # a constant grey binarizes to noise: constant binary images are black or white
        levels = (np.arange(n) % 2).astype(np.float32)
    else:
        levels = np.linspace(0.0, 1.0, n, dtype=np.float32)
    sets = {
        "other": prepare(grey[other][:n], 11),
        "noise": prepare(rng.random((n, *model.data_shape), dtype=np.float32), 12),
        "constant": np.broadcast_to(levels[:, None, None, None], (n, *model.data_shape)).copy(),
        "inverted": prepare(1.0 - grey[name][:n], 13),
    }
    return (prepare(grey[name][:n], 10), prepare(grey[name][n:2 * n], 14), prepare(train, 15),
            sets, other)


def score_variants(preset, model, background):
    """(row label, `anomaly_scores` keyword arguments) for every score that applies."""
    variants = [("sample_knn (default)", dict(score="sample_knn")),
                ("elbo", dict(score="elbo")),
                ("reconstruction", dict(score="reconstruction")),
                ("elbo_complexity (png)", dict(score="elbo_complexity")),
                ("elbo_complexity (webp)", dict(score="elbo_complexity", compressor="webp")),
                ("typicality", dict(score="typicality", reference=True)),
                ("latent_knn", dict(score="latent_knn", reference=True)),
                ("feature_knn", dict(score="feature_knn", reference=True))]
    if background is not None:
        variants.append(("likelihood_ratio", dict(score="likelihood_ratio", background=background)))
    if hasattr(model, "level_elbo"):
        for levels in range(1, len(model.latent_groups)):
            variants.append((f"level_ratio (levels={levels}, k=4)",
                             dict(score="level_ratio", levels=levels, num_samples=4)))
    return variants


def background_for(preset, model, epochs, data_dir, run_dir):
    """The likelihood-ratio background of `preset`, trained once and kept in `run_dir`."""
    path = os.path.join(run_dir, f"{preset}_background_{epochs}ep.keras")
    if os.path.exists(path):
        return zoo.load_model(path)
    x = zoo.data.load_numpy(dataset_of(preset), "train", data_dir=data_dir)[0]
    start = time.time()
    background = anomaly.train_background(model, x, epochs=epochs, seed=0, verbose=2)
    print(f"{preset}: background trained in {time.time() - start:.0f} s", flush=True)
    os.makedirs(run_dir, exist_ok=True)
    background.save(path + ".partial.keras")
    os.replace(path + ".partial.keras", path)
    return background


def metrics(normal_scores, foreign_scores):
    scores = np.concatenate([normal_scores, foreign_scores])
    labels = np.r_[np.zeros(len(normal_scores)), np.ones(len(foreign_scores))]
    return {"auroc": anomaly.auroc(scores, labels), "auprc": anomaly.auprc(scores, labels),
            "fpr_at_95_tpr": anomaly.fpr_at_tpr(scores, labels, 0.95)}


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=list(PRESETS), choices=PRESETS)
    parser.add_argument("--num-test", type=int, default=1000, help="images per set")
    parser.add_argument("--background-epochs", type=int, default=10,
                        help="epochs of the likelihood-ratio background models (0: skip the score)")
    parser.add_argument("--background-presets", nargs="+", default=["vae_mnist", "vae_fashion_mnist"],
                        help="presets that get a background model (training one costs minutes)")
    parser.add_argument("--run-dir", default=os.path.join("runs", "ood"))
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args(argv)

    results, rows, calibration_rows = {}, [], []
    for preset in args.presets:
        model = zoo.from_preset(preset)
        normal, held_out, reference, sets, other = ood_sets(preset, model, args.num_test, args.data_dir)
        background = (background_for(preset, model, args.background_epochs, args.data_dir, args.run_dir)
                      if args.background_epochs > 0 and preset in args.background_presets else None)
        results[preset] = {"other_dataset": other, "scores": {}}
        for label, kwargs in score_variants(preset, model, background):
            if kwargs.pop("reference", None):
                kwargs["reference"] = reference
            start = time.time()
            detector = anomaly.AnomalyDetector(model, **kwargs)
            normal_scores = detector.score(normal)
            figures = {name: metrics(normal_scores, detector.score(x)) for name, x in sets.items()}
            seconds = time.time() - start
            results[preset]["scores"][label] = {"sets": figures, "seconds": seconds}
            rows.append([preset, label] + [f"{figures['other'][m]:.3f}" for m in
                                           ("auroc", "auprc", "fpr_at_95_tpr")]
                        + [f"{figures[s]['auroc']:.3f}" for s in OOD_SETS[1:]] + [f"{seconds:.0f}"])
            print(" | ".join(rows[-1]), flush=True)
        # The default detector, as a user gets it: calibrated on held-out normal images.
        detector = anomaly.AnomalyDetector(model, target_fpr=0.05)
        threshold = detector.calibrate(held_out)
        realised = {"fpr": float(np.mean(detector.score(normal) > threshold))}
        realised.update({f"tpr_{name}": float(np.mean(detector.score(x) > threshold))
                         for name, x in sets.items()})
        results[preset]["default_calibrated"] = {"target_fpr": 0.05, "threshold": threshold, **realised}
        calibration_rows.append([preset, f"{threshold:.3f}", f"{realised['fpr']:.3f}"]
                                + [f"{realised['tpr_' + s]:.3f}" for s in OOD_SETS])
        default = results[preset]["scores"]["sample_knn (default)"]["sets"]
        results[preset]["default_passes"] = default_passes(preset, default)

    rows += [[f"{paper}: {model_name}", score, f"{auroc:.3f}", "", "", "", "", "", ""]
             for paper, model_name, score, auroc in PUBLISHED]
    header = ["preset (normal data)", "score", "vs other dataset: AUROC", "AUPRC", "FPR@95%TPR",
              "noise AUROC", "constant AUROC", "inverted AUROC", "seconds"]
    payload = {
        "protocol": {"num_test": args.num_test, "ood_sets": list(OOD_SETS),
                     "reference": f"train[:{REFERENCE_SIZE}] (typicality, latent_knn, feature_knn)",
                     "binarization": "one fixed draw for presets trained on binarized images",
                     "background_epochs": args.background_epochs,
                     "goals": "default: Fashion->MNIST >= 0.95, MNIST->Fashion >= 0.99, other sets >= 0.9"},
        "results": results,
        "calibration": {"header": ["preset", "threshold", "FPR (normal test)"]
                        + [f"TPR {s}" for s in OOD_SETS], "rows": calibration_rows},
        "published": [dict(zip(("paper", "model", "score", "fashion_to_mnist_auroc"), p))
                      for p in PUBLISHED],
        "all_defaults_pass": all(r["default_passes"] for r in results.values()),
    }
    command = "python benchmarks/quality/ood.py " + " ".join(argv)
    common.write_results("ood", payload, rows, header, command, group="quality")
    lines = ["", "Default score (sample_knn), threshold calibrated for 5 % FPR on held-out normal test images:", "",
             "| " + " | ".join(payload["calibration"]["header"]) + " |",
             "|" + " --- |" * len(payload["calibration"]["header"])]
    lines += ["| " + " | ".join(r) + " |" for r in calibration_rows]
    lines += ["", "Default passes the goals (other dataset >= 0.95 Fashion->MNIST / 0.99 MNIST->Fashion, "
              "every other set >= 0.9): " + ", ".join(f"{p} {'yes' if r['default_passes'] else 'NO'}"
                                                      for p, r in results.items())]
    md = common.results_path("quality", "ood.md")
    with open(md) as f:
        table = f.read()
    io_utils.write_text(md, table + "\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
