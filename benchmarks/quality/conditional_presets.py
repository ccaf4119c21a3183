"""The conditional presets' cards: do samples show the class asked for, and how good are they?

For each conditional preset (a model with `num_classes`) and its dataset:
  - conditional accuracy: `per_class` samples of every class, drawn with that label, and
    the fraction the in-repo classifier (`zoo.evaluation.frechet.load_classifier`, trained
    on the real images) assigns to the class asked for; the classifier's own accuracy on
    the real test images is the ceiling, measured in the same run. The headline is at
    temperature 1 (the model's own distribution); `--temperatures` adds the same figure
    for draws eps * T (`model.sample(..., temperature=T)`), the usual trade of variety
    for class fidelity;
  - Fréchet distance in that classifier's feature space between 10,000 samples (classes
    drawn at the training frequencies) and the 10,000 test images, next to the same
    figure for the unconditional sibling preset (`cvae_x` -> `vae_x`, `chvae_x` -> `hvae_x`),
    same run, same seeds;
  - a sample grid, one row per class (the same noise in every row), under
    benchmarks/results/quality/<preset>_classes.png.
log p(x | y) comes from the preset's recipe (`benchmarks/recipes/cvae_mnist.py`). The
figures are written into each preset's metadata and card.

    python benchmarks/quality/conditional_presets.py                       # every conditional preset
    python benchmarks/quality/conditional_presets.py --presets cvae_mnist

Writes benchmarks/results/quality/conditional_presets.json and .md.
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # benchmarks/, for common

import common
import numpy as np

import zoo
from zoo import plotting, presets
from zoo.evaluation import frechet


def is_conditional(name):
    """Whether a built-in preset's config has classes (read without building the model)."""
    with open(os.path.join(presets.resolve(name), presets.CONFIG_FILE)) as f:
        return bool(json.load(f).get("config", {}).get("num_classes"))


def dataset_of(name):
    return "fashion_mnist" if name.endswith("fashion_mnist") else "mnist"


def conditional_accuracy(model, classifier, per_class, seed=0, temperature=1.0):
    """(overall, per-class list): the classifier's agreement with the labels asked for."""
    hits = []
    for c in range(model.num_classes):
        samples = np.concatenate([np.asarray(model.sample(min(500, per_class - i), seed=seed + c * 1000 + i,
                                                          labels=c, temperature=temperature))
                                  for i in range(0, per_class, 500)])
        predicted = np.concatenate([np.argmax(np.asarray(classifier(samples[i:i + 500])), axis=-1)
                                    for i in range(0, len(samples), 500)])
        hits.append(float(np.mean(predicted == c)))
    return float(np.mean(hits)), hits


def measure(name, per_class, num_fd_samples, data_dir=None, temperatures=()):
    model = zoo.from_preset(name)
    if not model.num_classes:
        raise ValueError(f"{name} is not a conditional preset (num_classes is None)")
    dataset = dataset_of(name)
    classifier = frechet.load_classifier(dataset)
    x_test, y_test = zoo.data.load_numpy(dataset, "test", data_dir=data_dir)
    logits = np.concatenate([np.asarray(classifier(x_test[i:i + 500])) for i in range(0, len(x_test), 500)])
    ceiling = float(np.mean(np.argmax(logits, axis=-1) == y_test))
    accuracy, per_class_accuracy = conditional_accuracy(model, classifier, per_class)
    by_temperature = {str(t): conditional_accuracy(model, classifier, per_class, temperature=t)[0]
                      for t in temperatures if t != 1.0}
    fd = frechet.model_fd(model, x_test, classifier, num_samples=num_fd_samples, seed=0)
    base = os.path.basename(os.path.normpath(name))
    sibling = base[1:] if base.startswith(("cvae_", "chvae_")) else base  # cvae_x -> vae_x
    sibling_fd = (frechet.model_fd(zoo.from_preset(sibling), x_test, classifier,
                                   num_samples=num_fd_samples, seed=0)
                  if sibling in zoo.list_presets() and sibling != name else None)
    grid = plotting.class_sample_grid(model, per_class=10, seed=0)
    png = common.results_path("quality", f"{os.path.basename(os.path.normpath(name))}_classes.png")
    plotting.save_image_grid(grid, png, num_cols=10)
    meta = presets.load_metadata(name)
    return {"preset": name, "dataset": dataset, "classes": list(model.class_names or range(model.num_classes)),
            "conditional_accuracy": accuracy, "per_class_accuracy": per_class_accuracy,
            "classifier_test_accuracy": ceiling, "samples_per_class": per_class,
            "conditional_accuracy_by_temperature": by_temperature,
            "fd": fd, "fd_samples": num_fd_samples, "sibling": sibling if sibling_fd is not None else None,
            "sibling_fd": sibling_fd, "grid": os.path.relpath(png, os.path.dirname(common.HERE)),
            "test_nll_given_label": {k: v for k, v in meta.get("metrics", {}).items()
                                     if k.startswith("test_nll")},
            "train_seconds": meta.get("train_seconds"), "epochs": meta.get("epochs")}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=None,
                        help="default: every built-in preset with num_classes")
    parser.add_argument("--per-class", type=int, default=1000)
    parser.add_argument("--fd-samples", type=int, default=10_000)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--temperatures", nargs="*", type=float, default=[0.9, 0.8, 0.7],
                        help="extra sampling temperatures for the accuracy column")
    args = parser.parse_args(argv)
    names = args.presets or [n for n in zoo.list_presets() if is_conditional(n)]
    command = "python benchmarks/quality/conditional_presets.py " + " ".join(
        argv if argv is not None else sys.argv[1:])
    # A run over some presets keeps the other presets' entries (each names its command).
    results = common.previous_entries("quality", "conditional_presets", "presets",
                                      set(zoo.list_presets()) - set(names)) if args.presets else {}
    for name in names:
        figures = measure(name, args.per_class, args.fd_samples, args.data_dir, args.temperatures)
        results[name] = {"command": command, **figures}
        print(figures, flush=True)
        presets.update_metadata(name, metrics={
            "conditional_accuracy": round(figures["conditional_accuracy"], 4),
            "fd": round(figures["fd"], 3)})
    write(results, command)
    return 0


def write(results, command):
    """benchmarks/results/quality/conditional_presets.json and .md from `results`."""
    rows = [[f"`{n}`", ", ".join(f"{k}: {v:.2f}" for k, v in f["test_nll_given_label"].items()) or "n/a",
             f"**{f['conditional_accuracy']:.3f}** (ceiling {f['classifier_test_accuracy']:.3f})",
             ", ".join(f"T={t}: {a:.3f}" for t, a in f["conditional_accuracy_by_temperature"].items())
             or "n/a",
             f"{f['fd']:.2f}" + (f" (`{f['sibling']}`: {f['sibling_fd']:.2f})" if f["sibling_fd"] is not None else ""),
             f"{(f['train_seconds'] or 0) / 3600:.1f} h, {f['epochs']} epochs",
             f"[grid]({os.path.basename(f['grid'])})"]
            for n, f in results.items()]
    common.write_results("conditional_presets", {"presets": results}, rows,
                         ["preset", "test NLL of log p(x given y), nats", "conditional accuracy (T=1)",
                          "at lower temperatures",
                          "Fréchet distance (unconditional sibling)", "training (2-core CPU)",
                          "samples, one row per class"],
                         command, group="quality")


if __name__ == "__main__":
    sys.exit(main())
