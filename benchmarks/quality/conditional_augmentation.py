"""Do a conditional preset's samples help a classifier that has few real images?

For each conditional preset (`cvae_mnist`, `cvae_fashion_mnist`) and 5 draws (seeds):
100 real training images per class are drawn (balanced), and the in-repo classifier
architecture (`zoo.evaluation.frechet.FeatureClassifier`) is trained twice from the same
initial weights for the same number of updates (1,500 steps of 64): on the 1,000 real
images alone, and on them plus 1,000 generated images per class (the preset's samples for
that label, decoder means). Both are scored on the 10,000 real test images. The table
reports mean ± sd over the draws and the paired difference, whichever way it goes.

    export VAEZOO_DATA_DIR=../shared/data
    python benchmarks/quality/conditional_augmentation.py [--presets cvae_mnist] [--draws 5]

Writes benchmarks/results/quality/conditional_augmentation.json and .md.
"""

import argparse
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # benchmarks/, for common

import common
import keras
import numpy as np

import zoo
from zoo.evaluation import frechet

PER_CLASS = 100
GENERATED_PER_CLASS = 1000
STEPS = 1500
BATCH = 64


def balanced_subset(labels, per_class, seed):
    """Indices of `per_class` examples of every class, drawn with `seed`."""
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.choice(np.flatnonzero(labels == c), per_class, replace=False)
                           for c in np.unique(labels)])


def train_and_score(x, y, x_test, y_test, seed):
    """Test accuracy of a `FeatureClassifier` trained on (x, y) for `STEPS` updates."""
    keras.utils.set_random_seed(seed)  # the same initial weights for both conditions
    model = frechet.FeatureClassifier(input_shape=x.shape[1:])
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    data = zoo.data.from_arrays(x, y, batch_size=BATCH, shuffle=True, seed=seed).repeat()
    model.fit(data, epochs=1, steps_per_epoch=STEPS, verbose=0, shuffle=False)  # shuffled above
    predicted = np.concatenate([np.argmax(model(x_test[i:i + 1000]), axis=-1)
                                for i in range(0, len(x_test), 1000)])
    return float(np.mean(predicted == y_test))


def generated(model, seed):
    """`GENERATED_PER_CLASS` samples of every class, with their labels."""
    xs, ys = [], []
    for c in range(model.num_classes):
        for i in range(0, GENERATED_PER_CLASS, 500):
            xs.append(np.asarray(model.sample(500, seed=seed * 100_000 + c * 1000 + i, labels=c)))
            ys.append(np.full(500, c))
    return np.concatenate(xs), np.concatenate(ys)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["cvae_mnist", "cvae_fashion_mnist"])
    parser.add_argument("--draws", type=int, default=5)
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args(argv)
    results, rows = {}, []
    for name in args.presets:
        dataset = "fashion_mnist" if name.endswith("fashion_mnist") else "mnist"
        model = zoo.from_preset(name)
        x_train, y_train = zoo.data.load_numpy(dataset, "train", data_dir=args.data_dir)
        x_test, y_test = zoo.data.load_numpy(dataset, "test", data_dir=args.data_dir)
        real_only, augmented = [], []
        for draw in range(args.draws):
            pick = balanced_subset(y_train, PER_CLASS, seed=draw)
            x_gen, y_gen = generated(model, seed=draw)
            real_only.append(train_and_score(x_train[pick], y_train[pick], x_test, y_test, draw))
            augmented.append(train_and_score(np.concatenate([x_train[pick], x_gen]),
                                             np.concatenate([y_train[pick], y_gen]),
                                             x_test, y_test, draw))
            print(name, draw, real_only[-1], augmented[-1], flush=True)
        gain = [a - r for a, r in zip(augmented, real_only)]
        results[name] = {"dataset": dataset, "real_only": real_only, "augmented": augmented,
                         "paired_gain": gain}

        def cell(values):
            sd = statistics.stdev(values) if len(values) > 1 else 0.0
            return f"{statistics.mean(values):.4f} ± {sd:.4f}"

        rows.append([f"`{name}`", cell(real_only), cell(augmented), cell(gain)])
    common.write_results(
        "conditional_augmentation",
        {"results": results, "per_class_real": PER_CLASS,
         "generated_per_class": GENERATED_PER_CLASS, "steps": STEPS, "batch_size": BATCH,
         "draws": args.draws}, rows,
        ["preset", f"{PER_CLASS} real a class: test accuracy",
         f"+ {GENERATED_PER_CLASS} generated a class", "paired gain"],
        "python benchmarks/quality/conditional_augmentation.py " + " ".join(argv),
        group="quality")
    return 0


if __name__ == "__main__":
    sys.exit(main())
