"""Recipe: the small classifiers whose features define the zoo's Fréchet distance (FD).

For each dataset, trains `zoo.evaluation.frechet.FeatureClassifier` on the training
images (60,000 grey MNIST / Fashion-MNIST images, or the 50,000 colour JPEGs of the CIFAR-10
copy; Adam 1e-3, batch 128, 8 epochs, seed 0), measures test accuracy on the 10,000 test
images, and ships the model in zoo/evaluation/classifiers/<dataset>/ (preset layout, with
the accuracy and this recipe in metadata.json).

    VAEZOO_DATA_DIR=../shared/data python benchmarks/recipes/fd_classifier.py
    VAEZOO_DATA_DIR=../shared/data python benchmarks/recipes/fd_classifier.py --datasets cifar10_jpeg

Writes benchmarks/results/recipes/fd_classifier.json and .md.
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # benchmarks/, for common

import common
import keras
import numpy as np

import zoo
from zoo import presets
from zoo.evaluation import frechet as fd

DATASETS = ("mnist", "fashion_mnist", "cifar10_jpeg")
EPOCHS = 8


def train_classifier(dataset, data_dir=None):
    keras.utils.set_random_seed(0)
    train = zoo.data.load(dataset, "train", data_dir=data_dir, batch_size=128, with_labels=True,
                          seed=0)
    x_test, y_test = zoo.data.load_numpy(dataset, "test", data_dir=data_dir)
    model = fd.FeatureClassifier(input_shape=x_test.shape[1:], name=f"fd_classifier_{dataset}")
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    model.fit(train, epochs=EPOCHS, verbose=2)
    predictions = np.concatenate([np.argmax(model(x_test[i:i + 1000]), axis=-1)
                                  for i in range(0, len(x_test), 1000)])
    accuracy = float(np.mean(predictions == y_test))
    path = os.path.join(fd.CLASSIFIER_DIR, dataset)
    presets.save_to_preset(model, path, overwrite=True, metadata={
        "dataset": f"{dataset} (pixels in [0, 1])",
        "recipe": f"python benchmarks/recipes/fd_classifier.py --datasets {dataset}",
        "epochs": EPOCHS,
        "metrics": {"test_accuracy": round(accuracy, 4)},
        "note": "Feature space of the zoo's FD metric; not comparable with Inception FID.",
    })
    return accuracy


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
    args = parser.parse_args(argv)
    accuracies = {}
    path = common.results_path("recipes", "fd_classifier.json")
    if os.path.exists(path):  # keep the other datasets' figures
        with open(path) as f:
            accuracies = json.load(f)["test_accuracy"]
    accuracies.update({dataset: train_classifier(dataset) for dataset in args.datasets})
    rows = [[dataset, f"{accuracies[dataset]:.4f}"] for dataset in accuracies]
    common.write_results("fd_classifier", {"test_accuracy": accuracies, "epochs": EPOCHS},
                         rows, ["dataset", "test accuracy"],
                         "python benchmarks/recipes/fd_classifier.py " + " ".join(argv), group="recipes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
