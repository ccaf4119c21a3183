"""Fine-tuning the vae_mnist preset on a slice of Fashion-MNIST, with Keras' own fit.

Loads the built-in `vae_mnist` preset (warm-up off: it is already trained), measures
its test NLL on Fashion-MNIST, fine-tunes it on the first 5,000 Fashion-MNIST training
images (dynamically binarized) for 5 epochs with Adam 3e-4, and measures again; the
MNIST test NLL before and after shows what the fine-tuning costs on the original data.
NLL by the importance-weighted bound with k = 100 on all 10,000 test images of each
dataset (static binarization, seed 0).

    VAEZOO_DATA_DIR=../shared/data python benchmarks/quality/finetune_fashion.py

Writes benchmarks/results/quality/finetune_fashion.json and .md.
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # benchmarks/, for common

import common
import keras

import zoo

SLICE, EPOCHS, K = 5000, 5, 100


def _nll(model, dataset):
    test = zoo.data.load(dataset, "test", batch_size=500, binarize="static", seed=0)
    return zoo.evaluate(model, test, num_samples=K, seed=0)["nll"]


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    model = zoo.from_preset("vae_mnist", kl_warmup_steps=0)
    before = {d: _nll(model, d) for d in ("fashion_mnist", "mnist")}
    train = zoo.data.load("fashion_mnist", f"train[:{SLICE}]", batch_size=128,
                          binarize="dynamic", seed=0)
    model.compile(optimizer=keras.optimizers.Adam(3e-4))
    start = time.perf_counter()
    model.fit(train, epochs=EPOCHS, verbose=2)
    seconds = time.perf_counter() - start
    after = {d: _nll(model, d) for d in ("fashion_mnist", "mnist")}
    rows = [[d, f"{before[d]:.2f}", f"**{after[d]:.2f}**", f"{after[d] - before[d]:+.2f}"]
            for d in ("fashion_mnist", "mnist")]
    common.write_results(
        "finetune_fashion",
        {"preset": "vae_mnist", "fine_tuning": {"examples": SLICE, "epochs": EPOCHS,
                                                "optimizer": "Adam 3e-4", "seconds": round(seconds, 1)},
         "num_samples": K, "nll_before": before, "nll_after": after},
        rows, ["test set (k=100 NLL, nats)", "vae_mnist preset", "fine-tuned on 5,000 Fashion images",
               "change"],
        command="python benchmarks/quality/finetune_fashion.py " + " ".join(argv), group="quality")
    return 0


if __name__ == "__main__":
    sys.exit(main())
