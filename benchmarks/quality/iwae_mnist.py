"""IWAE against the VAE of the same size on dynamically binarized MNIST: test NLL.

The importance-weighted autoencoder changes only the training objective (the k-sample
bound L_k instead of the ELBO), so the comparison holds everything else fixed: the same
MLP encoder and decoder (784-512-256-32 and back), Bernoulli likelihood, N(0, I) prior,
optimizer, schedule, epochs, data order and initial weights. Both are evaluated by the
same importance-weighted estimator (k = 1000, seed 0) on the 10,000 test images
binarized once (static, seed 0). Burda et al. (2016, Table 1) report that the IWAE's
advantage comes with more active latent units; the table shows both.

    export VAEZOO_DATA_DIR=../shared/data
    python benchmarks/quality/iwae_mnist.py           # both models (resumable), ~1 h on 2 cores
    python benchmarks/quality/iwae_mnist.py --epochs 2 --num-test 500 -k 100   # a quick look

Writes benchmarks/results/quality/iwae_mnist.json and .md.
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # benchmarks/, for common

import common
import keras

import zoo
from zoo import training

STEPS_PER_EPOCH = 469  # ceil(60000 / 128)
PUBLISHED = [
    ("VAE, 1 stochastic layer (Burda et al. 2016, k=5000)", 86.76),
    ("IWAE k=5, 1 stochastic layer (Burda et al. 2016, k=5000)", 85.54),
    ("IWAE k=50, 1 stochastic layer (Burda et al. 2016, k=5000)", 84.78),
]


def build(kind, num_samples):
    """The two models differ only in their training objective."""
    args = dict(input_shape=(28, 28, 1), latent_dim=32, network="mlp", hidden_dims=(512, 256),
                likelihood="bernoulli", seed=0)
    return zoo.IWAE(num_samples=num_samples, **args) if kind == "iwae" else zoo.VAE(**args)


def optimizer(epochs):
    schedule = keras.optimizers.schedules.CosineDecay(
        1e-3, decay_steps=epochs * STEPS_PER_EPOCH, alpha=0.01)
    return keras.optimizers.Adam(schedule)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--iwae-samples", type=int, default=5, help="k of the IWAE's training bound")
    parser.add_argument("--num-samples", "-k", type=int, default=1000, help="k of the test NLL")
    parser.add_argument("--num-test", type=int, default=10_000, help="test images evaluated")
    parser.add_argument("--output-dir", default=os.path.join("runs", "iwae_mnist"))
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args(argv)

    test = zoo.data.load("mnist", f"test[:{args.num_test}]", data_dir=args.data_dir,
                         batch_size=500, binarize="static", seed=0)
    rows, figures = [], {}
    for kind in ("vae", "iwae"):
        run = os.path.join(args.output_dir, kind)
        # Same initial weights and data order for both (as `vaezoo train --seed` sets them).
        keras.utils.set_random_seed(0)
        train = zoo.data.load("mnist", "train", data_dir=args.data_dir, batch_size=128,
                              binarize="dynamic", seed=0)
        model = training.train(build(kind, args.iwae_samples), train, epochs=args.epochs,
                               output_dir=run, optimizer=optimizer(args.epochs), verbose=2)
        with open(os.path.join(run, training.SUMMARY_FILE)) as f:
            summary = json.load(f)
        print(f"{kind}: evaluating {args.num_test} test images with k={args.num_samples}", flush=True)
        result = zoo.evaluate(model, test, num_samples=args.num_samples, seed=0, log_every=4,
                              progress_path=os.path.join(run, f"eval_k{args.num_samples}.npz"))
        figures[kind] = {**result, "train_seconds": summary["train_seconds"],
                         "epochs": summary["epochs_completed"], "config": model.get_config()}
        label = "VAE" if kind == "vae" else f"IWAE k={args.iwae_samples}"
        rows.append([f"{label} (this repo, k={args.num_samples})",
                     f"**{result['nll']:.2f}** ± {result['nll_stderr']:.2f}", f"{result['elbo']:.2f}",
                     result["active_units"], f"{summary['train_seconds'] / 60:.0f} min"])
    gain = figures["vae"]["nll"] - figures["iwae"]["nll"]
    rows += [[label, f"{nll:.2f}", "", "", ""] for label, nll in PUBLISHED]
    payload = {
        "model": "MLP 784-512-256, latent 32, Bernoulli, N(0, I) prior",
        "protocol": {"train": "60,000 images, dynamic binarization, batch 128, Adam cosine 1e-3 -> 1e-5",
                     "epochs": args.epochs, "test": f"first {args.num_test} test images, static binarization seed 0",
                     "num_samples": args.num_samples},
        "figures": figures, "nll_gain_of_iwae": gain, "published": dict(PUBLISHED),
    }
    common.write_results("iwae_mnist", payload, rows,
                         ["model (dynamic MNIST, same network)", "test NLL (nats)", "test ELBO",
                          "active units", "training (2-core CPU)"],
                         "python benchmarks/quality/iwae_mnist.py " + " ".join(argv), group="quality")
    print(f"IWAE gains {gain:.2f} nats over the VAE")
    return 0


if __name__ == "__main__":
    sys.exit(main())
