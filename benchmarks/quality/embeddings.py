"""Embeddings for a downstream task: a linear classifier on 1,000 labelled images.

The `vae_mnist` preset was trained without labels. A multinomial logistic regression
(one Keras Dense softmax layer, L2 1e-4, Adam, full batch, 500 steps, features
standardized on the training set) is fit on 1,000 labelled MNIST training images
(the first 1,000 of the training split, binarized as the model saw them) either on the model's embeddings
(`model.embed`, the posterior mean, 32 numbers) or on the raw 784 pixels, and scored
on all 10,000 test images. Mean and standard deviation over 5 seeds of the classifier.

    VAEZOO_DATA_DIR=../shared/data python benchmarks/quality/embeddings.py

Writes benchmarks/results/quality/embeddings.json and .md.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # benchmarks/, for common

import common
import keras
import numpy as np

import zoo

NUM_LABELLED, SEEDS = 1000, 5


def _logistic_regression_accuracy(train_x, train_y, test_x, test_y, seed):
    mean, std = train_x.mean(axis=0), train_x.std(axis=0) + 1e-6
    keras.utils.set_random_seed(seed)
    classifier = keras.Sequential([
        keras.Input(train_x.shape[1:]),
        keras.layers.Dense(10, activation="softmax", kernel_regularizer=keras.regularizers.L2(1e-4)),
    ])
    classifier.compile(optimizer=keras.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy",
                       metrics=["accuracy"])
    classifier.fit((train_x - mean) / std, train_y, batch_size=len(train_x), epochs=500, verbose=0)
    return float(classifier.evaluate((test_x - mean) / std, test_y, verbose=0)[1])


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    model = zoo.from_preset("vae_mnist")
    # Binarized as the model's training data was (static, seed 0), for both feature sets.
    x_train, y_train = zoo.data.load_numpy("mnist", f"train[:{NUM_LABELLED}]", binarize="static")
    x_test, y_test = zoo.data.load_numpy("mnist", "test", binarize="static")

    def embed(x):
        return np.concatenate([np.asarray(model.embed(x[i:i + 1000])) for i in range(0, len(x), 1000)])

    features = {
        "vae_mnist embeddings (32)": (embed(x_train), embed(x_test)),
        "raw pixels (784)": (x_train.reshape(len(x_train), -1), x_test.reshape(len(x_test), -1)),
    }
    results, rows = {}, []
    for name, (train_f, test_f) in features.items():
        accuracies = [_logistic_regression_accuracy(train_f, y_train, test_f, y_test, seed)
                      for seed in range(SEEDS)]
        results[name] = {"accuracies": accuracies, "mean": float(np.mean(accuracies)),
                         "std": float(np.std(accuracies))}
        rows.append([name, f"**{np.mean(accuracies):.4f}** ± {np.std(accuracies):.4f}"])
        print(name, results[name], flush=True)
    common.write_results(
        "embeddings", {"labelled_examples": NUM_LABELLED, "seeds": SEEDS,
                       "classifier": "Dense softmax, L2 1e-4, Adam 1e-2, full batch, 500 steps",
                       "results": results},
        rows, [f"features (logistic regression on {NUM_LABELLED:,} labelled MNIST images)",
               "test accuracy (10,000 images)"],
        command="python benchmarks/quality/embeddings.py " + " ".join(argv), group="quality")
    return 0


if __name__ == "__main__":
    sys.exit(main())
