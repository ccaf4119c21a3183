"""CIFAR-10 side by side: the zoo's VAE and HVAE against a minimal hand-written Keras VAE
trained on the same JPEG files for the same training time.

The baseline is what a user writes from a tutorial: a Keras functional encoder and decoder
of the same widths as `vae_cifar10` (stride-2 convolutions 64-128-256 and their transposes,
latent 128), a discretized logistic per channel written out by hand (PixelCNN++'s
formula, one component), Adam at 1e-3, no KL warm-up, a `tf.function` training step. It
trains on the same `zoo.data.load("cifar10_jpeg")` pipeline for the training time of
`vae_cifar10`'s recipe, counted in steps: as many as fit in the VAE's 32 epochs by the
ratio of their step times measured side by side (`benchmarks/speed/cifar10_step_times.py`,
run first), so that the budget does not depend on the day's machine speed. It checkpoints
so that the run survives interruption. Every model is then measured in the same run:

  - test bits/dim: the importance-weighted bound with k = 100 on the 10,000 test JPEGs
    (the zoo's models through `zoo.evaluate`, the baseline by the same formula written
    here), in bits per dimension of the 8-bit images;
  - Fréchet distance between 10,000 samples and the 10,000 test images in the feature
    space of the in-repo classifier trained on the same JPEGs
    (`benchmarks/recipes/fd_classifier.py --datasets cifar10_jpeg`).

It also writes a grid of 64 samples of each model side by side, and adds each zoo preset's
FD to its model card.

Goals: the HVAE at least 0.25 bits/dim under the same-budget VAE; the zoo's VAE no worse
than the baseline. Figures are of the JPEG copy only (see ../shared/data/README.md).

    export VAEZOO_DATA_DIR=../shared/data
    python benchmarks/quality/cifar10_side_by_side.py [--output-dir runs/cifar10_baseline]

Writes benchmarks/results/quality/cifar10_side_by_side.json, .md and _samples.png, and
updates the cards of zoo/presets/vae_cifar10 and hvae_cifar10.
"""

import argparse
import json
import math
import os
import sys
import time

BENCHMARKS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, BENCHMARKS)  # for common
sys.path.insert(0, os.path.join(BENCHMARKS, "recipes"))  # for vae_cifar10's constants

import common
import keras
import numpy as np
import tensorflow as tf

import zoo
from zoo import plotting, presets
from zoo.evaluation import frechet

from vae_cifar10 import STEPS_PER_EPOCH

DATASET = "cifar10_jpeg"
LATENT = 128
K = 100
LEVELS = 255.0
GRID = 64  # samples per model in the grid
SAMPLES_PNG = "benchmarks/results/quality/cifar10_side_by_side_samples.png"


def build_baseline():
    """(encoder, decoder): plain Keras functional models of `vae_cifar10`'s widths."""
    x = keras.Input((32, 32, 3))
    h = x
    for filters in (64, 128, 256):
        h = keras.layers.Conv2D(filters, 4, strides=2, padding="same", activation="relu")(h)
    params = keras.layers.Dense(2 * LATENT)(keras.layers.Flatten()(h))
    encoder = keras.Model(x, params, name="baseline_encoder")
    z = keras.Input((LATENT,))
    h = keras.layers.Reshape((4, 4, 256))(keras.layers.Dense(4 * 4 * 256, activation="relu")(z))
    for filters in (128, 64, 32):
        h = keras.layers.Conv2DTranspose(filters, 4, strides=2, padding="same",
                                         activation="relu")(h)
    out = keras.layers.Conv2D(6, 3, padding="same")(h)  # loc and log-scale per channel
    decoder = keras.Model(z, out, name="baseline_decoder")
    return encoder, decoder


def discretized_logistic_log_prob(x, out):
    """log p(x) `[batch]` of 8-bit images in [0, 1] under one logistic per channel, written
    out as in PixelCNN++'s reference code (edge bins take the tails)."""
    loc, log_scale = out[..., :3], tf.maximum(out[..., 3:], -7.0)
    inv = tf.exp(-log_scale)
    plus, minus = inv * (x - loc + 0.5 / LEVELS), inv * (x - loc - 0.5 / LEVELS)
    log_cdf_plus = plus - tf.math.softplus(plus)
    log_one_minus_cdf_minus = -tf.math.softplus(minus)
    mid = tf.math.log(tf.maximum(tf.sigmoid(plus) - tf.sigmoid(minus), 1e-12))
    log_p = tf.where(x < 0.5 / LEVELS, log_cdf_plus,
                     tf.where(x > 1 - 0.5 / LEVELS, log_one_minus_cdf_minus, mid))
    return tf.reduce_sum(log_p, axis=[1, 2, 3])


def gaussian_log_prob(z, loc, log_scale):
    return tf.reduce_sum(-0.5 * ((z - loc) / tf.exp(log_scale)) ** 2 - log_scale
                         - 0.5 * math.log(2 * math.pi), axis=-1)


def baseline_train_step(encoder, decoder, optimizer):
    """The baseline's training step, a `tf.function` of a batch that returns the loss
    (the negative ELBO in nats per image, closed-form Gaussian KL)."""
    weights = encoder.trainable_weights + decoder.trainable_weights

    @tf.function
    def train_step(x):
        with tf.GradientTape() as tape:
            loc, log_scale = tf.split(encoder(x), 2, axis=-1)
            z = loc + tf.exp(log_scale) * tf.random.normal(tf.shape(loc))
            kl = tf.reduce_sum(0.5 * (tf.exp(2 * log_scale) + loc ** 2 - 1) - log_scale, -1)
            loss = tf.reduce_mean(kl - discretized_logistic_log_prob(x, decoder(z)))
        optimizer.apply_gradients(zip(tape.gradient(loss, weights), weights))
        return loss

    return train_step


def train_baseline(output_dir, steps, data_dir=None):
    """Trains the baseline for `steps` steps (resumable); returns the models, the step
    count and the training seconds spent."""
    encoder, decoder = build_baseline()
    optimizer = keras.optimizers.Adam(1e-3)
    step, elapsed = tf.Variable(0, dtype=tf.int64), tf.Variable(0.0, dtype=tf.float64)
    checkpoint = tf.train.Checkpoint(encoder=encoder, decoder=decoder, optimizer=optimizer,
                                     step=step, elapsed=elapsed)
    manager = tf.train.CheckpointManager(checkpoint, os.path.join(output_dir, "ckpt"), 2)
    if manager.latest_checkpoint:
        checkpoint.restore(manager.latest_checkpoint)
        print(f"resumed at step {int(step)}, {float(elapsed) / 3600:.2f} h", flush=True)
    train_step = baseline_train_step(encoder, decoder, optimizer)
    train = zoo.data.load(DATASET, "train", data_dir=data_dir, batch_size=64, seed=0)
    last_save = time.time()
    while int(step) < steps:
        for x in train:
            start = time.perf_counter()
            loss = float(train_step(x))
            if not math.isfinite(loss):  # stop rather than spend the budget on NaN weights
                raise RuntimeError(f"The baseline's loss is {loss} at step {int(step)}; its last "
                                   f"checkpoint in {output_dir} is from before.")
            elapsed.assign_add(time.perf_counter() - start)
            step.assign_add(1)
            if int(step) % 500 == 0:
                print(f"step {int(step)} loss {loss:.1f} ({loss / (3072 * math.log(2)):.3f} "
                      f"bits/dim) {float(elapsed) / 3600:.2f} h", flush=True)
            if time.time() - last_save > 300:
                manager.save()
                last_save = time.time()
            if int(step) >= steps:
                break
    manager.save()
    return encoder, decoder, int(step), float(elapsed)


def baseline_bits_per_dim(encoder, decoder, test, k=K, seed=0):
    """The importance-weighted bound with `k` samples, as bits/dim, over `test` batches."""
    rng = tf.random.Generator.from_seed(seed)

    @tf.function
    def log_likelihood(x):
        loc, log_scale = tf.split(encoder(x), 2, axis=-1)
        z = loc + tf.exp(log_scale) * rng.normal([k, *loc.shape])  # [k, batch, latent]
        flat = tf.reshape(z, [-1, LATENT])
        tiled = tf.repeat(x[tf.newaxis], k, axis=0)
        log_px = tf.reshape(discretized_logistic_log_prob(
            tf.reshape(tiled, [-1, 32, 32, 3]), decoder(flat)), [k, -1])
        log_w = (log_px + gaussian_log_prob(z, 0.0, 0.0)
                 - gaussian_log_prob(z, loc, log_scale))
        return tf.reduce_logsumexp(log_w, axis=0) - math.log(k)

    lls = np.concatenate([log_likelihood(x).numpy() for x in test])
    return float(-lls.mean() / (3072 * math.log(2))), len(lls)


def baseline_budget():
    """The baseline's step count: as many steps as fit in `vae_cifar10`'s training, by the
    step-time ratio measured side by side (`benchmarks/speed/cifar10_step_times.py`).

    A wall-clock budget would not do: the baseline trains hours or days after the VAE, on a
    machine whose speed drifts (the VAE's epochs took 356-589 s alone), and a run stopped
    by the clock cannot be reproduced."""
    path = common.results_path("speed", "cifar10_step_times.json")
    if not os.path.exists(path):
        raise SystemExit(f"{path} is missing: run `python benchmarks/speed/cifar10_step_times.py` "
                         "first (alone; about 10 minutes)")
    with open(path) as f:
        budgets = json.load(f)["budgets"]
    vae_steps = presets.load_metadata("vae_cifar10")["epochs"] * STEPS_PER_EPOCH
    if vae_steps != budgets["vae_cifar10_steps"]:
        raise SystemExit(f"vae_cifar10 trained {vae_steps} steps, but {path} sized the budgets "
                         f"for {budgets['vae_cifar10_steps']}: run it again")
    return budgets["keras_baseline_steps"]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output-dir", default=os.path.join("runs", "cifar10_baseline"))
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--fd-samples", type=int, default=10_000)
    args = parser.parse_args(argv)
    command = "python benchmarks/quality/cifar10_side_by_side.py"
    budget = baseline_budget()
    keras.utils.set_random_seed(0)
    encoder, decoder, steps, seconds = train_baseline(args.output_dir, budget, args.data_dir)
    test = zoo.data.load(DATASET, "test", data_dir=args.data_dir, batch_size=50, shuffle=False)
    real, _ = zoo.data.load_numpy(DATASET, "test", data_dir=args.data_dir)
    classifier = frechet.load_classifier(DATASET)
    real_features = frechet.classifier_features(classifier, real)
    results, grids = {}, []
    for name in ("vae_cifar10", "hvae_cifar10"):
        model = zoo.from_preset(name)
        meta = presets.load_metadata(name)
        results[name] = {
            "parameters": model.count_params(), "train_seconds": meta["train_seconds"],
            "steps": meta["epochs"] * STEPS_PER_EPOCH,
            "bits_per_dim": meta["metrics"][f"test_bits_per_dim_k{K}"],
            "fd": frechet.model_fd(model, real, classifier, num_samples=args.fd_samples, seed=0)}
        grids.append(plotting.image_grid(np.asarray(model.sample(GRID, seed=0)), num_cols=8))
        # The card carries the FD and points at the grid (the recipe wrote the bits/dim).
        presets.update_metadata(name, metrics={"fd": round(results[name]["fd"], 3)},
                                fd_note=f"FD in the in-repo classifier's feature space, "
                                        f"{args.fd_samples:,} samples against the 10,000 test "
                                        f"JPEGs ({command})",
                                samples_note=f"a grid of {GRID} samples beside the other "
                                             f"CIFAR-10 models': {SAMPLES_PNG}")
    bits, _ = baseline_bits_per_dim(encoder, decoder, test)
    noise = np.random.default_rng(0).standard_normal((args.fd_samples, LATENT)).astype(np.float32)
    samples = np.concatenate([
        np.clip(decoder(noise[i:i + 500]).numpy()[..., :3], 0.0, 1.0)  # the logistic's mode
        for i in range(0, len(noise), 500)])
    grids.append(plotting.image_grid(samples[:GRID], num_cols=8))
    # Left to right: vae_cifar10, hvae_cifar10, the Keras baseline, 8 white pixels apart.
    gap = np.ones((grids[0].shape[0], 8, 3), np.float32)
    plotting.save_image_grid(np.concatenate([grids[0], gap, grids[1], gap, grids[2]], axis=1)[None],
                             common.results_path("quality", os.path.basename(SAMPLES_PNG)), scale=2)
    results["keras_baseline"] = {
        "parameters": encoder.count_params() + decoder.count_params(), "train_seconds": seconds,
        "steps": steps, "bits_per_dim": bits,
        "fd": frechet.frechet_distance(frechet.classifier_features(classifier, samples),
                                       real_features)}
    def row(name, r, bits, fd):
        return [name, f"{r['parameters']:,}", f"{r['steps']:,}",
                f"{r['train_seconds'] / 3600:.1f} h", f"**{bits:.3f}**", fd]

    rows = [row(name, r, r["bits_per_dim"], f"{r['fd']:.2f}") for name, r in results.items()]
    # The VAE's own N(0, I) prior, before its flow prior was fitted (its recipe's second
    # stage): the likelihood a plain VAE reaches, beside the baseline's plain VAE. Its
    # samples are not scenes (the prior hole), so it has no FD.
    before = presets.load_metadata("vae_cifar10")["metrics"].get(
        f"test_bits_per_dim_k{K}_before_prior_fit")
    if before is not None:
        results["vae_cifar10"]["bits_per_dim_before_prior_fit"] = before
        rows.insert(1, row("vae_cifar10 before its prior fit (N(0, I) prior)",
                           results["vae_cifar10"], before, "(samples fail)"))
    common.write_results("cifar10_side_by_side", {
        "results": results, "k": K, "dataset": "CIFAR-10 JPEG copy (../shared/data/cifar10_jpeg)",
        "hvae_gain_bits_per_dim": results["vae_cifar10"]["bits_per_dim"]
        - results["hvae_cifar10"]["bits_per_dim"],
        "vae_vs_baseline_bits_per_dim": results["keras_baseline"]["bits_per_dim"]
        - results["vae_cifar10"]["bits_per_dim"]}, rows,
        ["model", "parameters", "training steps (batch 64)",
         "training time (2 cores, on the day of each run)", f"test bits/dim (k={K})",
         "Fréchet distance (in-repo classifier)"], command, group="quality")
    print(json.dumps({n: r["bits_per_dim"] for n, r in results.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
