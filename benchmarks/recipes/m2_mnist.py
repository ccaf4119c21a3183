"""Recipe: the semi-supervised VAE (M2, Kingma et al. 2014) on MNIST with few labels.

`zoo.VAE(num_classes=10, semi_supervised=True)`, the paper's network (MLP, one hidden
layer of 500 units in the encoder, the decoder and the classifier, latent 50, N(0, I)
prior per class), trained on the 60,000 dynamically binarized training images of which
`--labeled` keep their label (a balanced draw with `--seed`, `zoo.vae.semi_supervised.
hide_labels`). Each batch holds 90 unlabelled and 10 labelled images (`mixed_batches`), and
the classification loss is weighted by the paper's alpha = 0.1 N / N_l
(`paper_alpha(60000, N_l)`). No validation split, no early stopping: the test set is
used once, after training.

    export VAEZOO_DATA_DIR=../shared/data
    python benchmarks/recipes/m2_mnist.py --labeled 100 --seed 0      # m2_mnist_100
    python benchmarks/recipes/m2_mnist.py --labeled 100 --m1 vae_mnist   # M1+M2
    python benchmarks/recipes/m2_mnist.py --labeled 100 --m1 vae_mnist --fresh-codes
    python benchmarks/recipes/m2_mnist.py --dataset fashion_mnist --labeled 100 --m1 vae_fashion_mnist

With `--m1 PRESET` it is M1+M2: the same M2 (Gaussian likelihood) trained on the preset's
codes of the images (binarized once, seed 0) instead of the pixels, as the paper stacks M2
on M1. By default the codes are the posterior means, fixed; with `--fresh-codes` each
batch draws its codes afresh from the posterior q(z1 | x), as the paper does (test images
are classified on their means either way).

Adds a row (labels, seed) to benchmarks/results/recipes/m2_mnist.json and .md: test
error of `predict_labels` on the 10,000 test images, test ELBO of log p(x | y), training
time. The run with 100 labels and seed 0 is the built-in preset zoo/presets/m2_mnist_100.
With `--dataset fashion_mnist` the same recipe runs on Fashion-MNIST, and its rows go to
benchmarks/results/recipes/m2_fashion_mnist.json (no published figures; no preset).
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # benchmarks/, for common

import common

import zoo

EPOCHS = 100
BATCH_SIZE = 100
LABELLED_PER_BATCH = 10
#: Kingma et al. 2014, Table 1: MNIST test error (%) by method and number of labels.
PUBLISHED = {("M2", 100): 11.97, ("M2", 600): 4.94, ("M2", 1000): 3.60, ("M2", 3000): 3.92,
             ("M1+M2", 100): 3.33, ("M1+M2", 600): 2.59, ("M1+M2", 1000): 2.40,
             ("M1+M2", 3000): 2.18}


def build_model(num_labelled, names, code_dim=None):
    """M2 on the pixels (Bernoulli), or with `code_dim` on an M1's codes (Gaussian)."""
    from zoo.vae import semi_supervised as ssl

    on_codes = code_dim is not None
    return zoo.VAE(input_shape=(code_dim,) if on_codes else (28, 28, 1), latent_dim=50,
                   network="mlp", hidden_dims=(500,), activation="softplus",
                   likelihood="gaussian" if on_codes else "bernoulli", num_classes=10,
                   class_names=list(names), semi_supervised=True,
                   alpha=ssl.paper_alpha(60000, num_labelled), seed=0,
                   binarize=None if on_codes else "dynamic")


def m1_codes(preset, x, with_scale=False):
    """The M1 preset's posterior means of `x` (binarized once, seed 0), float32 `[n, dim]`;
    with `with_scale`, the posterior's means and standard deviations side by side,
    `[n, 2 * dim]` (see `draw_codes`)."""
    import numpy as np

    m1 = zoo.from_preset(preset)
    binary = (np.random.default_rng(0).uniform(size=x.shape) < x).astype("float32")
    parts = []
    for i in range(0, len(x), 1000):
        if with_scale:
            posterior = m1.encode(binary[i:i + 1000])
            codes = [np.asarray(posterior.mean()), np.asarray(posterior.stddev())]
        else:
            codes = [np.asarray(m1.embed(binary[i:i + 1000]))]
        parts.append(np.concatenate([c.reshape(len(c), -1) for c in codes], axis=1))
    return np.concatenate(parts)


def draw_codes(batches, seed):
    """`batches` of `[mean, stddev]` rows (`m1_codes(..., with_scale=True)`) as batches of
    codes z1 = mean + stddev * eps, with new noise for every batch of every epoch."""
    import tensorflow as tf

    # Dataset.random draws new seeds each time fit() starts an epoch over the data.
    seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)

    def draw(batch, pair_seed):
        (stats, y) = batch
        mean, stddev = tf.split(stats, 2, axis=1)
        return mean + stddev * tf.random.stateless_normal(tf.shape(mean), pair_seed), y

    return tf.data.Dataset.zip(batches, seeds).map(draw, num_parallel_calls=tf.data.AUTOTUNE)


def main(argv=None):
    import keras
    import numpy as np

    from zoo import training
    from zoo.vae import semi_supervised as ssl

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labeled", type=int, default=100, help="labelled training images")
    parser.add_argument("--seed", type=int, default=0, help="seed of the labelled draw")
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--m1", default=None, metavar="PRESET",
                        help="M1+M2: train on this preset's codes (e.g. vae_mnist)")
    parser.add_argument("--fresh-codes", action="store_true",
                        help="M1+M2: draw the codes from q(z1 | x) for every batch")
    parser.add_argument("--dataset", default="mnist", choices=["mnist", "fashion_mnist"])
    parser.add_argument("--output-dir", default=None, help="default: runs/<dataset>_<method>_<labels>_s<seed>")
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args(argv)
    command = "python benchmarks/recipes/m2_mnist.py " + " ".join(
        argv if argv is not None else sys.argv[1:])
    if args.fresh_codes and args.m1 is None:
        parser.error("--fresh-codes is for M1+M2: give --m1 PRESET")
    method = "M2" if args.m1 is None else (
        f"M1+M2 ({args.m1}{', fresh codes' if args.fresh_codes else ''})")
    key = ("m2" if args.m1 is None else f"m1m2_{args.m1}{'_fresh' if args.fresh_codes else ''}"
           ) + f"_{args.labeled}_s{args.seed}"
    output_dir = args.output_dir or os.path.join("runs", f"{args.dataset}_{key}")

    x, y = zoo.data.load_numpy(args.dataset, "train", data_dir=args.data_dir)
    test_x, test_y = zoo.data.load_numpy(args.dataset, "test", data_dir=args.data_dir,
                                         binarize="static", seed=0)
    if args.m1 is not None:
        x, test_x = m1_codes(args.m1, x, with_scale=args.fresh_codes), m1_codes(args.m1, test_x)
    hidden = ssl.hide_labels(y, args.labeled, seed=args.seed, num_classes=10)
    keras.utils.set_random_seed(args.seed)
    batches = ssl.mixed_batches(x, hidden, batch_size=BATCH_SIZE,
                                labelled_per_batch=LABELLED_PER_BATCH,
                                binarize="dynamic" if args.m1 is None else None, seed=args.seed)
    if args.fresh_codes:
        batches = draw_codes(batches, args.seed)
    names = zoo.data.class_names(args.dataset, args.data_dir)
    started = time.time()
    code_dim = None if args.m1 is None else test_x.shape[1]
    model = training.train(build_model(args.labeled, names, code_dim), batches, epochs=args.epochs,
                           output_dir=output_dir,
                           optimizer=keras.optimizers.Adam(3e-4), verbose=2)
    with open(os.path.join(output_dir, training.SUMMARY_FILE)) as f:
        run = json.load(f)

    error = float(np.mean(model.predict_labels(test_x) != test_y))
    elbo = float(np.mean(np.concatenate([
        np.asarray(model.elbo(test_x[i:i + 1000], seed=0, labels=test_y[i:i + 1000]))
        for i in range(0, len(test_x), 1000)])))
    print(f"test error {100 * error:.2f} %, test ELBO of log p(x | y) {elbo:.2f} "
          f"({time.time() - started:.0f} s)", flush=True)

    results = "m2_mnist" if args.dataset == "mnist" else f"m2_{args.dataset}"
    path = common.results_path("recipes", f"{results}.json")
    runs = {}
    if os.path.exists(path):
        with open(path) as f:
            runs = json.load(f).get("runs", {})
    runs[key] = {
        "method": method, "labeled": args.labeled, "seed": args.seed, "test_error": error, "test_elbo": elbo,
        "epochs": run["epochs_completed"], "train_seconds": run["train_seconds"],
        "command": command}
    rows = []
    for method, labeled in sorted({(r["method"], r["labeled"]) for r in runs.values()}):
        same = [r for r in runs.values() if (r["method"], r["labeled"]) == (method, labeled)]
        errors = [100 * r["test_error"] for r in same]
        spread = f" ± {np.std(errors, ddof=1):.2f}" if len(errors) > 1 else ""
        published = PUBLISHED.get((method.split(" ")[0], labeled)) if args.dataset == "mnist" else None
        rows.append([method, labeled, f"**{np.mean(errors):.2f}**{spread}", len(errors),
                     "" if published is None else f"{published:.2f}",
                     f"{np.mean([r['train_seconds'] for r in same]) / 3600:.1f} h, "
                     f"{same[0]['epochs']} epochs"])
    common.write_results(
        results,
        {"model": "zoo.VAE(semi_supervised=True), MLP 500, latent 50, softplus",
         "config": model.get_config(), "parameters": model.count_params(),
         "recipe": {"optimizer": "Adam 3e-4", "batch": f"{BATCH_SIZE - LABELLED_PER_BATCH} "
                    f"unlabelled + {LABELLED_PER_BATCH} labelled", "alpha": "0.1 N / N_l",
                    "binarization": "dynamic (train), static seed 0 (test)"},
         "dataset": args.dataset, "runs": runs,
         "published": {"source": "Kingma et al. 2014, Table 1",
                       "test_error_percent": {f"{m} {n}": e for (m, n), e in PUBLISHED.items()}}
         if args.dataset == "mnist" else None},
        rows, ["method", "labels", "test error (%), mean ± sd over seeds", "seeds",
               "published (%)", "training (2-core CPU)"], command, group="recipes")

    if args.dataset == "mnist" and args.m1 is None and args.labeled == 100 and args.seed == 0:
        preset = os.path.join(os.path.dirname(common.HERE), "zoo", "presets", "m2_mnist_100")
        model.save_to_preset(preset, overwrite=True, metadata={
            "dataset": "mnist (dynamically binarized), 100 labels (seed 0)",
            "recipe": "python benchmarks/recipes/m2_mnist.py --labeled 100 --seed 0"
                      + ("" if run["epochs_completed"] == EPOCHS
                         else f" --epochs {run['epochs_completed']}"),
            "epochs": run["epochs_completed"], "train_seconds": run["train_seconds"],
            "metrics": {"test_error": round(error, 4), "test_elbo": round(elbo, 2)}})
        print(f"preset written to {preset}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
