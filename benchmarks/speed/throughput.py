"""Training throughput of zoo.VAE against a minimal hand-written Keras VAE.

Both are the same network (MLP 784-512-256-32, Bernoulli likelihood, Adam, batch 128)
trained on the same dynamically binarized MNIST pipeline. The hand-written one uses
plain TF ops (no TFP distributions, no extra metrics); it is what a user would write
without the zoo. Chunks of training steps of the two alternate in one process; a
chunk's throughput is batch size / its median step time, and the figure reported is
the median over pairs of the within-pair throughput ratio.

    VAEZOO_DATA_DIR=../shared/data python benchmarks/speed/throughput.py
"""

import argparse
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # benchmarks/, for common

import common  # noqa: F401  (puts the repository on sys.path)
import keras
import tensorflow as tf

import zoo
from zoo.evaluation.speed import StepTimer


class MinimalVAE(keras.Model):
    """The hand-written baseline: same layers as zoo.VAE(hidden_dims=(512, 256), latent_dim=32)."""

    def __init__(self, latent_dim=32):
        super().__init__()
        self.enc = [keras.layers.Dense(512, activation="relu"), keras.layers.Dense(256, activation="relu")]
        self.head = keras.layers.Dense(2 * latent_dim)
        self.dec = [keras.layers.Dense(256, activation="relu"), keras.layers.Dense(512, activation="relu"),
                    keras.layers.Dense(784)]
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.seed_generator = keras.random.SeedGenerator(0)

    def call(self, x):
        h = tf.reshape(x, [-1, 784])
        for layer in self.enc:
            h = layer(h)
        loc, raw = tf.split(self.head(h), 2, axis=-1)
        scale = tf.nn.softplus(raw) + 1e-4
        z = loc + scale * keras.random.normal(tf.shape(loc), seed=self.seed_generator)
        for layer in self.dec:
            z = layer(z)
        return z, loc, scale

    def train_step(self, x):
        with tf.GradientTape() as tape:
            logits, loc, scale = self(x)
            target = tf.reshape(x, [-1, 784])
            rec = tf.reduce_sum(tf.nn.sigmoid_cross_entropy_with_logits(target, logits), axis=-1)
            kl = tf.reduce_sum(-tf.math.log(scale) + 0.5 * (scale**2 + loc**2) - 0.5, axis=-1)
            loss = tf.reduce_mean(rec + kl)
        grads = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
        self.loss_tracker.update_state(loss)
        return {"loss": self.loss_tracker.result()}

    @property
    def metrics(self):
        return [self.loss_tracker]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30,
                        help="timed pairs of chunks, one chunk per model (default: 30)")
    parser.add_argument("--steps", type=int, default=150, help="training steps per chunk (default: 150)")
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args(argv)

    ds = zoo.data.load("mnist", "train", data_dir=args.data_dir, batch_size=128,
                       binarize="dynamic", drop_remainder=True).repeat()
    models = {
        "zoo.VAE": zoo.VAE(input_shape=(28, 28, 1), latent_dim=32, hidden_dims=(512, 256), seed=0),
        # The same without the NaN/inf update guard, to show what the guard costs.
        "zoo.VAE(skip_nonfinite=False)": zoo.VAE(input_shape=(28, 28, 1), latent_dim=32,
                                                 hidden_dims=(512, 256), seed=0,
                                                 skip_nonfinite=False),
        "hand-written Keras VAE": MinimalVAE(),
    }
    for model in models.values():
        model.compile(optimizer=keras.optimizers.Adam(1e-3))
        model.fit(ds, epochs=1, steps_per_epoch=2 * args.steps, verbose=0)  # trace and warm up
    # Same network: the same trainable parameters (zoo.VAE also holds two non-trainable
    # counters of its update guard).
    trainable = {name: sum(int(tf.size(w)) for w in m.trainable_weights) for name, m in models.items()}
    assert len(set(trainable.values())) == 1, trainable
    # Short chunks in alternating order, the ratios taken within each round, each chunk's
    # throughput from its median step time: this machine (a 2-core VM) stalls now and
    # then for a second or more, which would otherwise decide the figure.
    rates = {name: [] for name in models}
    hand = "hand-written Keras VAE"
    pair_ratios = {name: [] for name in models if name != hand}
    for r in range(args.rounds):
        order = list(models) if r % 2 == 0 else list(reversed(models))
        for name in order:
            timer = StepTimer()
            models[name].fit(ds, epochs=1, steps_per_epoch=args.steps, verbose=0,
                             callbacks=[timer])
            rates[name].append(128 / statistics.median(timer.durations))
        for name in pair_ratios:
            pair_ratios[name].append(rates[name][-1] / rates[hand][-1])
        print(f"round {r + 1}: " + ", ".join(f"{n} {rates[n][-1]:,.0f} img/s" for n in models),
              flush=True)
    median = {name: statistics.median(v) for name, v in rates.items()}
    ratios = {name: statistics.median(v) for name, v in pair_ratios.items()}
    quartiles = {name: statistics.quantiles(v, n=4) for name, v in pair_ratios.items()}
    ratio = ratios["zoo.VAE"]
    rows = [[name, f"{median[name]:,.0f}", f"{min(rates[name]):,.0f} - {max(rates[name]):,.0f}",
             "1" if name == hand else f"**{ratios[name]:.3f}** "
                                      f"({quartiles[name][0]:.3f} - {quartiles[name][2]:.3f})"]
            for name in models]
    common.write_results(
        "throughput",
        {"model": "MLP 784-512-256-32, Bernoulli, Adam, batch 128, dynamic MNIST",
         "steps_per_chunk": args.steps, "images_per_second": rates, "median": median,
         "pair_ratios": pair_ratios, "ratios": ratios, "ratio": ratio,
         "ratio_quartiles": {n: [q[0], q[2]] for n, q in quartiles.items()},
         "target_ratio": 0.95, "met": ratio >= 0.95},
        rows, ["model", "median img/s", "range img/s",
               "throughput / hand-written (median of rounds, quartiles)"],
        command="python benchmarks/speed/throughput.py " + " ".join(argv or sys.argv[1:]),
        group="speed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
