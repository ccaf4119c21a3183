"""Recipe: the small classifiers whose features define the zoo's Fréchet distance (FD).

For each dataset, trains `zoo.evaluation.frechet.FeatureClassifier` on the 60,000 grey-level training
images (Adam 1e-3, batch 128, 8 epochs, seed 0), measures test accuracy on the 10,000
test images, and ships the model in zoo/fd_classifiers/<dataset>/ (preset layout, with
the accuracy and this recipe in metadata.json).

    VAEZOO_DATA_DIR=../shared/data python benchmarks/recipes/fd_classifier.py

Writes benchmarks/results/recipes/fd_classifier.json and .md.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # benchmarks/, for common

import common
import keras
import numpy as np

import zoo
from zoo import presets
from zoo.evaluation import frechet as fd

DATASETS = ("mnist", "fashion_mnist")
EPOCHS = 8


def train_classifier(dataset, data_dir=None):
    keras.utils.set_random_seed(0)
    train = zoo.data.load(dataset, "train", data_dir=data_dir, batch_size=128, with_labels=True,
                          seed=0)
    x_test, y_test = zoo.data.load_numpy(dataset, "test", data_dir=data_dir)
    model = fd.FeatureClassifier(input_shape=(28, 28, 1), name=f"fd_classifier_{dataset}")
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    model.fit(train, epochs=EPOCHS, verbose=2)
    predictions = np.concatenate([np.argmax(model(x_test[i:i + 1000]), axis=-1)
                                  for i in range(0, len(x_test), 1000)])
    accuracy = float(np.mean(predictions == y_test))
    path = os.path.join(fd.CLASSIFIER_DIR, dataset)
    presets.save_to_preset(model, path, overwrite=True, metadata={
        "dataset": f"{dataset} (grey levels in [0, 1])",
        "recipe": "python benchmarks/recipes/fd_classifier.py",
        "epochs": EPOCHS,
        "metrics": {"test_accuracy": round(accuracy, 4)},
        "note": "Feature space of the zoo's FD metric; not comparable with Inception FID.",
    })
    return accuracy


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    accuracies = {dataset: train_classifier(dataset) for dataset in DATASETS}
    rows = [[dataset, f"{accuracies[dataset]:.4f}"] for dataset in DATASETS]
    common.write_results("fd_classifier", {"test_accuracy": accuracies, "epochs": EPOCHS},
                         rows, ["dataset", "test accuracy"],
                         "python benchmarks/recipes/fd_classifier.py " + " ".join(argv), group="recipes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
