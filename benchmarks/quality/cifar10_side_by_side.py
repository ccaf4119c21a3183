"""CIFAR-10 side by side: the zoo's HVAE and VAE against a minimal hand-written Keras VAE,
trained on the same JPEG files for the same training time.

The baseline is what a user writes from a tutorial: a Keras functional encoder and decoder
of the same widths as `vae_cifar10` (stride-2 convolutions 64-128-256 and their transposes,
latent 128), a discretized logistic per channel written out by hand (PixelCNN++'s
formula, one component), Adam at 1e-3, no KL warm-up, a `tf.function` training step.

The budget is `hvae_cifar10`'s training time (its recipe runs in one sitting), counted in
steps so that it does not depend on the day's machine speed: by the ratios of the three
models' step times measured side by side (`benchmarks/speed/cifar10_step_times.py`, run
first), the VAE's recipe trains a second time for as many epochs and the baseline for as
many steps as take the HVAE's epochs. The built-in `vae_cifar10` (its recipe's full 32
epochs, over twice the budget) is measured too, as a reference row. Every model is
measured the same way:

  - test bits/dim: the importance-weighted bound with k = 100 on the 10,000 test JPEGs
    (the zoo's models through `zoo.evaluate`, the baseline by the same bound written here
    over the zoo's `DiscretizedLogistic`), in bits per dimension of the 8-bit images;
  - Fréchet distance between 10,000 samples and the 10,000 test images in the feature
    space of the in-repo classifier trained on the same JPEGs
    (`benchmarks/recipes/fd_classifier.py --datasets cifar10_jpeg`);
  - a grid of 64 samples.

The work comes in parts, each one sitting at most, that add their rows to the same results
(the table shows the rows measured so far): `presets` measures the two built-in presets and
adds their FD to their model cards (minutes); `vae_same_budget` trains and measures the
VAE's second run; `keras_baseline` the baseline. Training checkpoints, so an interrupted
part continues where it stopped when run again.

Goals: the HVAE at least 0.25 bits/dim under the same-budget VAE; the zoo's VAE no worse
than the baseline at the same budget. Figures are of the JPEG copy only (see
../shared/data/README.md).

    export VAEZOO_DATA_DIR=../shared/data
    python benchmarks/quality/cifar10_side_by_side.py presets
    python benchmarks/quality/cifar10_side_by_side.py keras_baseline     # about 2 h
    python benchmarks/quality/cifar10_side_by_side.py vae_same_budget    # about 2.5 h

Writes benchmarks/results/quality/cifar10_side_by_side.json and .md, a sample grid per
model (cifar10_side_by_side_<model>.png), and updates the cards of zoo/presets/vae_cifar10
and hvae_cifar10.
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

import tensorflow_probability as tfp

import zoo
from zoo import plotting, presets
from zoo.distributions import DiscretizedLogistic
from zoo.evaluation import frechet

import vae_cifar10
from vae_cifar10 import STEPS_PER_EPOCH

tfd = tfp.distributions

DATASET = "cifar10_jpeg"
LATENT = 128
K = 100
LEVELS = 255.0
GRID = 64  # samples per model in the grid
NAME = "cifar10_side_by_side"
PARTS = ("presets", "vae_same_budget", "keras_baseline")
ROWS = ("hvae_cifar10", "vae_same_budget", "keras_baseline", "vae_cifar10")  # table order


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
    out as in PixelCNN++'s reference code, the baseline's training loss: the edge bins take
    the tails, and where a bin's probability is under 1e-5 (its two CDFs too close for
    float32 to subtract) it is the density at the bin's centre times the bin's width.

    That approximation is not a normalized likelihood far in a tail, so the evaluation
    scores the baseline by `exact_log_prob` instead."""
    loc, log_scale = out[..., :3], tf.maximum(out[..., 3:], -7.0)
    inv = tf.exp(-log_scale)
    plus, minus = inv * (x - loc + 0.5 / LEVELS), inv * (x - loc - 0.5 / LEVELS)
    log_cdf_plus = plus - tf.math.softplus(plus)
    log_one_minus_cdf_minus = -tf.math.softplus(minus)
    delta = tf.sigmoid(plus) - tf.sigmoid(minus)
    centre = inv * (x - loc)
    log_density_times_width = (centre - log_scale - 2.0 * tf.math.softplus(centre)
                               - math.log(LEVELS))
    mid = tf.where(delta > 1e-5, tf.math.log(tf.maximum(delta, 1e-12)), log_density_times_width)
    log_p = tf.where(x < 0.5 / LEVELS, log_cdf_plus,
                     tf.where(x > 1 - 0.5 / LEVELS, log_one_minus_cdf_minus, mid))
    return tf.reduce_sum(log_p, axis=[1, 2, 3])


def exact_log_prob(x, out):
    """The same likelihood as `discretized_logistic_log_prob` without its floor: the zoo's
    `DiscretizedLogistic` (bin probabilities in log space), so that the baseline's bits/dim
    are of a normalized distribution, measured as the zoo's models are."""
    loc, log_scale = out[..., :3], tf.maximum(out[..., 3:], -7.0)
    return tfd.Independent(DiscretizedLogistic(loc, tf.exp(log_scale)),
                           reinterpreted_batch_ndims=3).log_prob(x)


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
        log_px = tf.reshape(exact_log_prob(
            tf.reshape(tiled, [-1, 32, 32, 3]), decoder(flat)), [k, -1])
        log_w = (log_px + gaussian_log_prob(z, 0.0, 0.0)
                 - gaussian_log_prob(z, loc, log_scale))
        return tfp.math.reduce_logmeanexp(log_w, axis=0)

    lls = np.concatenate([log_likelihood(x).numpy() for x in test])
    return float(-lls.mean() / (3072 * math.log(2))), len(lls)


def budgets():
    """The same-time budgets (see `cifar10_step_times.same_time_budgets`) at the epochs the
    built-in `hvae_cifar10` trained, from the step-time ratios in the speed results.

    A wall-clock budget would not do: the runs train hours or sessions apart, on a machine
    whose speed drifts (the VAE's epochs took 356-589 s alone), and a run stopped by the
    clock cannot be reproduced."""
    sys.path.insert(0, os.path.join(BENCHMARKS, "speed"))
    import cifar10_step_times

    path = common.results_path("speed", "cifar10_step_times.json")
    if not os.path.exists(path):
        raise SystemExit(f"{path} is missing: run `python benchmarks/speed/cifar10_step_times.py` "
                         "first (alone; about 10 minutes)")
    with open(path) as f:
        figures = json.load(f)["models"]
    return cifar10_step_times.same_time_budgets(presets.load_metadata("hvae_cifar10")["epochs"],
                                                figures)


def sample_grid(samples, name):
    """Saves the first `GRID` samples as an 8-wide grid next to the results; returns its path."""
    path = common.results_path("quality", f"{NAME}_{name}.png")
    plotting.save_image_grid(plotting.image_grid(np.asarray(samples[:GRID]), num_cols=8)[None],
                             path, scale=2)
    return os.path.relpath(path, os.path.dirname(BENCHMARKS))


def measure_zoo_model(model, real, classifier, name, fd_samples):
    """FD against the test images and a sample grid of a zoo model."""
    fd = frechet.model_fd(model, real, classifier, num_samples=fd_samples, seed=0)
    grid = sample_grid(np.asarray(model.sample(GRID, seed=0)), name)
    return {"parameters": model.count_params(), "fd": fd, "samples": grid}


def run_presets(real, classifier, fd_samples, command):
    results = {}
    for name in ("vae_cifar10", "hvae_cifar10"):
        meta = presets.load_metadata(name)
        results[name] = {
            **measure_zoo_model(zoo.from_preset(name), real, classifier, name, fd_samples),
            "train_seconds": meta["train_seconds"], "steps": meta["epochs"] * STEPS_PER_EPOCH,
            "bits_per_dim": meta["metrics"][f"test_bits_per_dim_k{K}"]}
        if name == "vae_cifar10":
            # Its own N(0, I) prior before the flow prior was fitted (the recipe's second
            # stage): the likelihood a plain VAE reaches. Those samples are not scenes
            # (the prior hole), so it has no FD.
            results[name]["bits_per_dim_before_prior_fit"] = meta["metrics"].get(
                f"test_bits_per_dim_k{K}_before_prior_fit")
        # The card carries the FD and points at the grid (the recipe wrote the bits/dim).
        presets.update_metadata(name, metrics={"fd": round(results[name]["fd"], 3)},
                                fd_note=f"FD in the in-repo classifier's feature space, "
                                        f"{fd_samples:,} samples against the 10,000 test "
                                        f"JPEGs ({command})",
                                samples_note=f"a grid of {GRID} samples: {results[name]['samples']}")
    return results


def run_vae_same_budget(output_dir, epochs, test, real, classifier, fd_samples, data_dir):
    """`vae_cifar10`'s recipe for `epochs` epochs (its schedule spans them), with its flow
    prior fit: trained resumably in `output_dir`, measured as the preset is."""
    from zoo import training

    keras.utils.set_random_seed(0)
    train = zoo.data.load(DATASET, "train", data_dir=data_dir, batch_size=vae_cifar10.BATCH_SIZE,
                          seed=0)
    model = training.train(vae_cifar10.build_model(), train, epochs=epochs, output_dir=output_dir,
                           optimizer=vae_cifar10.build_optimizer(epochs), verbose=2)
    with open(os.path.join(output_dir, training.SUMMARY_FILE)) as f:
        train_seconds = json.load(f)["train_seconds"]

    def bits(m, tag):
        figures = zoo.evaluate(m, test, num_samples=K, seed=0, log_every=20,
                               progress_path=os.path.join(output_dir, f"eval_k{K}{tag}.npz"))
        return figures["bits_per_dim"]

    before = bits(model, "_before_prior_fit")
    fitted_path = os.path.join(output_dir, "model_fitted_prior.keras")
    if os.path.exists(fitted_path):
        fitted = keras.saving.load_model(fitted_path)
    else:
        images = zoo.data.load(DATASET, "train", data_dir=data_dir, batch_size=500, seed=0)
        fitted = zoo.fit_flow_prior(model, images, **vae_cifar10.PRIOR_FIT, verbose=1)
        training.save_model(fitted, fitted_path)
    return {**measure_zoo_model(fitted, real, classifier, "vae_same_budget", fd_samples),
            "train_seconds": train_seconds, "steps": epochs * STEPS_PER_EPOCH,
            "bits_per_dim": bits(fitted, ""), "bits_per_dim_before_prior_fit": before}


def run_keras_baseline(output_dir, steps, test, real, classifier, fd_samples, data_dir):
    keras.utils.set_random_seed(0)
    encoder, decoder, steps, seconds = train_baseline(output_dir, steps, data_dir)
    bits, _ = baseline_bits_per_dim(encoder, decoder, test)
    noise = np.random.default_rng(0).standard_normal((fd_samples, LATENT)).astype(np.float32)
    samples = np.concatenate([
        np.clip(decoder(noise[i:i + 500]).numpy()[..., :3], 0.0, 1.0)  # the logistic's mode
        for i in range(0, len(noise), 500)])
    return {"parameters": encoder.count_params() + decoder.count_params(),
            "train_seconds": seconds, "steps": steps, "bits_per_dim": bits,
            "fd": frechet.frechet_distance(frechet.classifier_features(classifier, samples),
                                           frechet.classifier_features(classifier, real)),
            "samples": sample_grid(samples, "keras_baseline")}


LABELS = {"hvae_cifar10": "hvae_cifar10 (built-in)",
          "vae_same_budget": "VAE, `vae_cifar10`'s recipe for the HVAE's time",
          "keras_baseline": "Keras baseline, for the HVAE's time",
          "vae_cifar10": "vae_cifar10 (built-in; 32 epochs)"}


def table(results):
    """The markdown rows of the models measured so far, in `ROWS` order."""
    def row(label, r, bits, fd):
        return [label, f"{r['parameters']:,}", f"{r['steps']:,}",
                f"{r['train_seconds'] / 3600:.1f} h", f"**{bits:.3f}**", fd,
                f"[grid]({os.path.basename(r['samples'])})" if fd != "(samples fail)" else ""]

    rows = []
    for name in ROWS:
        if name not in results:
            continue
        r = results[name]
        rows.append(row(LABELS[name], r, r["bits_per_dim"], f"{r['fd']:.2f}"))
        if r.get("bits_per_dim_before_prior_fit") is not None:
            rows.append(row(f"{LABELS[name]}, before its prior fit (N(0, I) prior)", r,
                            r["bits_per_dim_before_prior_fit"], "(samples fail)"))
    return rows


def goals(results):
    """The two comparisons the benchmark is for, where both sides are measured."""
    out = {}
    if {"hvae_cifar10", "vae_same_budget"} <= results.keys():
        out["hvae_gain_bits_per_dim"] = (results["vae_same_budget"]["bits_per_dim"]
                                         - results["hvae_cifar10"]["bits_per_dim"])
    if {"vae_same_budget", "keras_baseline"} <= results.keys():
        out["vae_vs_baseline_bits_per_dim"] = (results["keras_baseline"]["bits_per_dim"]
                                               - results["vae_same_budget"]["bits_per_dim"])
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("parts", nargs="+", choices=PARTS)
    parser.add_argument("--output-dir", default=os.path.join("runs", NAME),
                        help="training runs go to <output-dir>/<part>")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--fd-samples", type=int, default=10_000)
    args = parser.parse_args(argv)
    if args.fd_samples < 2:
        parser.error(f"--fd-samples must be at least 2, got {args.fd_samples}")
    command = "python benchmarks/quality/cifar10_side_by_side.py"
    budget = budgets() if set(args.parts) - {"presets"} else None
    test = zoo.data.load(DATASET, "test", data_dir=args.data_dir, batch_size=50, shuffle=False)
    real, _ = zoo.data.load_numpy(DATASET, "test", data_dir=args.data_dir)
    classifier = frechet.load_classifier(DATASET)
    path = common.results_path("quality", f"{NAME}.json")
    results, commands = {}, {}
    if os.path.exists(path):  # the parts measured in earlier sittings
        with open(path) as f:
            previous = json.load(f)
        results, commands = previous["results"], previous.get("commands", {})
    for part in args.parts:
        if part == "presets":
            results.update(run_presets(real, classifier, args.fd_samples, f"{command} presets"))
        elif part == "vae_same_budget":
            results[part] = run_vae_same_budget(
                os.path.join(args.output_dir, part), budget["vae_cifar10_epochs"], test, real,
                classifier, args.fd_samples, args.data_dir)
        else:
            results[part] = run_keras_baseline(
                os.path.join(args.output_dir, part), budget["keras_baseline_steps"], test, real,
                classifier, args.fd_samples, args.data_dir)
        commands[part] = f"{command} {part}"
    common.write_results(NAME, {
        "results": results, "commands": commands, "k": K, **({"budgets": budget} if budget else {}),
        "dataset": "CIFAR-10 JPEG copy (../shared/data/cifar10_jpeg)", **goals(results)},
        table(results),
        ["model", "parameters", "training steps (batch 64)",
         "training time (2 cores, on the day of each run)", f"test bits/dim (k={K})",
         "Fréchet distance (in-repo classifier)", "samples"],
        " ; ".join(commands[p] for p in PARTS if p in commands), group="quality")
    print(json.dumps({n: r["bits_per_dim"] for n, r in results.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
