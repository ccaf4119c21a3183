"""Representations for a downstream task: classifiers on a few labelled images.

The presets were trained without labels. `zoo.applications.probes.fit_probe` fits a
classifier (logistic regression, 5-nearest neighbours, an RBF SVM; each after per-column
standardisation) on `--labelled` training images, drawn balanced over the classes
(`--labelled` / 10 per class) with 5 seeds, on one of three representations: the
encoder's features (`model.features`), the posterior mean (`model.embed`) or the raw
pixels. Images are binarized as the models saw them (static, seed 0). Scored on all 10,000
test images; mean ± sd over the draws (the same draws for every row).

    VAEZOO_DATA_DIR=../shared/data python benchmarks/quality/embeddings.py
    python benchmarks/quality/embeddings.py --dataset fashion_mnist --presets vae_fashion_mnist

Writes benchmarks/results/quality/embeddings.json and .md (`embeddings_<dataset>` for
another dataset, `_<labelled>` appended for another number of labels).
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # benchmarks/, for common

import common
import numpy as np

import zoo
from zoo.applications import probes
from zoo.vae import semi_supervised

DRAWS = 5


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="mnist", choices=["mnist", "fashion_mnist"])
    parser.add_argument("--presets", nargs="+", default=["vae_mnist", "flow_vae_mnist", "hvae_mnist"])
    parser.add_argument("--labelled", type=int, default=1000)
    args = parser.parse_args(argv)
    x_pool, y_pool = zoo.data.load_numpy(args.dataset, "train", binarize="static")
    x_test, y_test = zoo.data.load_numpy(args.dataset, "test", binarize="static")
    # The labelled rows of each draw: semi_supervised.hide_labels' balanced draw.
    draws = [np.flatnonzero(semi_supervised.hide_labels(y_pool, args.labelled, seed=seed) >= 0)
             for seed in range(DRAWS)]
    cases = [("pixels", None, "pixels")] + [(f"{p} {kind}", p, kind) for p in args.presets
                                            for kind in ("features", "embed")]
    results, rows = {}, []
    for name, preset, kind in cases:
        model = zoo.from_preset(preset) if preset else zoo.from_preset(args.presets[0])
        test_vectors = probes.representation(model, x_test, kind)
        results[name] = {"dim": int(test_vectors.shape[1])}
        cells = []
        for probe in probes.PROBES:
            accuracies = []
            for seed, rows_ in enumerate(draws):
                fitted = probes.fit_probe(model, x_pool[rows_], y_pool[rows_], features=kind,
                                          probe=probe, seed=seed)
                accuracies.append(float(fitted.pipeline.score(test_vectors, y_test)))
            results[name][probe] = {"accuracies": accuracies, "mean": float(np.mean(accuracies)),
                                    "std": float(np.std(accuracies))}
            cells.append(f"{np.mean(accuracies):.4f} ± {np.std(accuracies):.4f}")
        rows.append([name, results[name]["dim"], *cells])
        print(name, results[name], flush=True)
    pixels = {p: results["pixels"][p]["mean"] for p in probes.PROBES}
    best = max(((n, p) for n in results if n != "pixels" for p in probes.PROBES),
               key=lambda k: results[k[0]][k[1]]["mean"])
    summary = {"best": {"representation": best[0], "probe": best[1],
                        "accuracy": results[best[0]][best[1]]["mean"],
                        "points_over_best_pixel_probe": 100 * (results[best[0]][best[1]]["mean"]
                                                               - max(pixels.values()))}}
    suffix = ("" if args.dataset == "mnist" else f"_{args.dataset}") + (
        "" if args.labelled == 1000 else f"_{args.labelled}")
    common.write_results(
        f"embeddings{suffix}", {"dataset": args.dataset, "labelled_examples": args.labelled,
                                "draws": DRAWS, "balanced": True, "results": results, **summary},
        rows, [f"representation ({args.labelled:,} labelled {args.dataset} images)", "dim",
               *(f"{p} (test accuracy)" for p in probes.PROBES)],
        command="python benchmarks/quality/embeddings.py " + " ".join(argv), group="quality")
    return 0


if __name__ == "__main__":
    sys.exit(main())
