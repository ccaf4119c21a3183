"""Training throughput of the zoo's `fit` against Pythae and a hand-written Keras loop.

Four trainers of the same network, on the same images, in one run:
  - the zoo: `zoo.VAE` built from the `vae_mnist` preset's config (by default with the MLP
    784-512-256-32 in place of its conv network; `--network preset` keeps conv 32-64, one
    residual block per stage, nearest upsampling; latent 32, Bernoulli, its KL warm-up
    included), trained by `model.fit` as compiled by default (8 steps per call of the
    compiled step, `zoo.training.hooks.AUTO_STEPS_PER_EXECUTION`);
  - the same with `compile(steps_per_execution=1)`, Keras' own default: what the
    per-call Python work of `fit` (callbacks, logs) costs;
  - hand-written Keras: the same encoder and decoder layers (`zoo.networks`) and a dense
    posterior head, trained by a plain `tf.function` step (Bernoulli log-likelihood from
    logits, the closed-form Gaussian KL, Adam) called in a Python loop;
  - Pythae 0.1.2 (PyTorch, CPU): `pythae.models.VAE` with the same network written in
    torch (sigmoid output and binary cross-entropy, as Pythae's "bce" loss takes them),
    trained by its own `BaseTrainer.train()`. torch and TensorFlow do not share the
    project's environment, so Pythae runs in a child process from a venv of its own
    (`--pythae-python`, default `$VAEZOO_PYTHAE_PYTHON` or `.venv-pythae/bin/python`);
    without one its row is skipped and the command to make it is printed.

Adam (learning rate 1e-3), batch 128, float32, `--threads` CPU threads for everyone
(TensorFlow's intra- and inter-op pools, torch's intra- and inter-op threads). The data
are the 60,000 MNIST training images read by `zoo.data.load`, binarized once (static,
seed 0) so that the three read the same ready images: the TensorFlow trainers through
`zoo.data.from_arrays` (shuffled, batched), Pythae through its own dataset and loader.

Each round runs `--steps` training steps of each trainer in turn (160 by default: one
epoch of 20,480 images), the order reversed every other round; a trainer's throughput in a round is `steps x batch` / the wall time
of its steps. The machine is shared and noisy: ratios are taken within a round, and
every figure is the median over the rounds after `--warmup-rounds`. The zoo is timed
inside one `fit` call of one epoch of `--steps` steps per round, from epoch begin to
epoch end, as a long training run is; a callback runs the other trainers' turns between
its epochs. The one-step-per-call zoo model takes its turn by a `fit` of one epoch of its
own, timed from its epoch begin to its epoch end (the call's setup excluded), on the
images pre-shuffled once and not reshuffled (no shuffle buffer to refill at each call:
if anything, this favours it). Pythae has no steps-per-epoch setting: its training set is a fixed random
subset of `steps x batch` of the images, so that one Pythae epoch is one round; its
epochs are timed from `on_epoch_begin` to `on_log`, the whole body of its epoch loop.

    VAEZOO_DATA_DIR=../shared/data python benchmarks/speed/fit_comparison.py                    # MLP
    VAEZOO_DATA_DIR=../shared/data python benchmarks/speed/fit_comparison.py --network preset   # conv

The Pythae environment: `python -m venv .venv-pythae && .venv-pythae/bin/pip install
torch==2.13.0 pythae==0.1.2` (torch 2.13.0 is the CPU build on these machines' disk).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # benchmarks/, for common

import common  # noqa: E402  (puts the repository on sys.path; the imports above must come first)

# TensorFlow, Keras and the zoo are imported inside the functions that use them: this file
# is also the Pythae child process (`--pythae-worker`), whose venv has torch and no
# TensorFlow.

REPO = os.path.dirname(common.HERE)
PRESET = "vae_mnist"
GOALS = {"pythae": 2.5, "hand_written": 1.0}  # zoo throughput / theirs, at least
NAMES = {"zoo": "zoo.VAE fit", "zoo_one_step": "zoo.VAE fit, steps_per_execution=1",
         "hand_written": "hand-written Keras loop", "pythae": "Pythae VAE (PyTorch)"}
PYTHAE_SETUP = ("python -m venv .venv-pythae && .venv-pythae/bin/pip install torch==2.13.0 "
                "pythae==0.1.2")
MARK = "FIT_COMPARISON "  # prefixes the child's protocol lines; anything else it prints is noise


# ---------------------------------------------------------------------------- TensorFlow side
def preset_config():
    """The `vae_mnist` preset's serialized model config (architecture and training settings)."""
    from zoo import presets

    with open(os.path.join(presets.resolve(PRESET), "config.json")) as f:
        return json.load(f)


def make_hand_written(config):
    """The hand-written baseline: the zoo's encoder and decoder layers, a plain train step.

    Returns (train_step, trainable variables); `train_step(x)` is a `tf.function` that
    applies one Adam update and returns the batch's negative ELBO.
    """
    import keras
    import tensorflow as tf

    from zoo import networks

    shape = tuple(config["input_shape"])
    latent = config["latent_dim"]
    encoder = networks.build_encoder(config["network"], config["hidden_dims"],
                                     config["activation"], config["num_res_blocks"])
    decoder = networks.build_decoder(config["network"], config["hidden_dims"], (*shape, 1),
                                     config["activation"], config["num_res_blocks"],
                                     config["upsampling"])
    head = keras.layers.Dense(2 * latent)
    encoder.build((None, *shape))
    head.build(encoder.compute_output_shape((None, *shape)))
    decoder.build((None, latent))
    variables = encoder.trainable_variables + head.trainable_variables + decoder.trainable_variables
    optimizer = keras.optimizers.Adam(1e-3)
    optimizer.build(variables)  # not inside the first trace, as the zoo's compile does
    seed = keras.random.SeedGenerator(0)
    pixels = int(tf.reduce_prod(shape))

    @tf.function
    def train_step(x):
        with tf.GradientTape() as tape:
            loc, raw = tf.split(head(encoder(x)), 2, axis=-1)  # [batch, latent] each
            scale = tf.nn.softplus(raw) + config["min_posterior_scale"]
            z = loc + scale * keras.random.normal(tf.shape(loc), seed=seed)
            logits = tf.reshape(decoder(z), [-1, pixels])
            target = tf.reshape(x, [-1, pixels])
            # -log p(x|z) of a Bernoulli, and KL(N(loc, scale^2) || N(0, 1)) in closed form.
            rec = tf.reduce_sum(tf.nn.sigmoid_cross_entropy_with_logits(target, logits), -1)
            kl = tf.reduce_sum(-tf.math.log(scale) + 0.5 * (scale**2 + loc**2) - 0.5, -1)
            loss = tf.reduce_mean(rec + kl)
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss

    return train_step, variables


def training_images(data_dir, seed):
    """The MNIST training images, binarized once (static, `seed`), float32 `[n, 28, 28, 1]`."""
    import numpy as np

    import zoo

    ds = zoo.data.load("mnist", "train", data_dir=data_dir, batch_size=10_000,
                       binarize="static", shuffle=False, seed=seed)
    return np.concatenate([batch.numpy() for batch in ds])


class PythaeChild:
    """Pythae's trainer in a child process of its own venv, one epoch per `epoch()` call."""

    def __init__(self, python, data_path, network, steps, batch_size, threads, epochs, seed):
        self.log = tempfile.NamedTemporaryFile("w+", suffix=".log", prefix="pythae_")
        command = [python, os.path.abspath(__file__), "--pythae-worker", "--data", data_path,
                   "--network", network, "--steps", str(steps), "--batch-size", str(batch_size),
                   "--threads", str(threads), "--epochs", str(epochs), "--seed", str(seed)]
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=self.log, text=True)
        self.info = self._read()

    def _read(self):
        for line in self.process.stdout:
            if line.startswith(MARK):
                return json.loads(line[len(MARK):])
        self.log.seek(0)
        raise RuntimeError("The Pythae child process ended early. Its output:\n" + self.log.read()[-5000:])

    def epoch(self):
        """Runs one Pythae epoch; returns the child's figures (seconds, cpu_seconds, loss)."""
        self.process.stdin.write("epoch\n")
        self.process.stdin.flush()
        return self._read()

    def close(self):
        self.process.stdin.close()  # the child stops at its next epoch, if any is left
        self.process.wait(timeout=120)
        self.log.close()


def find_pythae_python(option):
    """The Python of the Pythae venv, or None after saying why its row is skipped."""
    python = option or os.environ.get("VAEZOO_PYTHAE_PYTHON") or os.path.join(
        REPO, ".venv-pythae", "bin", "python")
    if not os.path.exists(python):
        print(f"Pythae row skipped: no Python at {python}. Make the venv with\n    {PYTHAE_SETUP}\n"
              "or pass --pythae-python / set VAEZOO_PYTHAE_PYTHON.", file=sys.stderr)
        return None
    check = subprocess.run([python, "-c", "import pythae, torch"], capture_output=True, text=True)
    if check.returncode != 0:
        print(f"Pythae row skipped: {python} cannot import pythae and torch:\n{check.stderr[-2000:]}"
              f"Install them with\n    {PYTHAE_SETUP}", file=sys.stderr)
        return None
    return python


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10,
                        help="timed rounds, each running every trainer once (default: 10)")
    parser.add_argument("--warmup-rounds", type=int, default=1,
                        help="untimed rounds first: tracing, allocators, caches (default: 2)")
    parser.add_argument("--steps", type=int, default=160,
                        help="training steps per round (default: 160, one 20,480-image epoch)")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--threads", type=int, default=2, help="CPU threads of each framework (default: 2)")
    parser.add_argument("--network", default="mlp", choices=["mlp", "preset"],
                        help="the MLP 784-512-256-32 with the vae_mnist preset's other settings "
                             "(default), or the preset's own conv network")
    parser.add_argument("--pythae-python", default=None,
                        help="Python of a venv with torch and pythae (default: $VAEZOO_PYTHAE_PYTHON "
                             "or .venv-pythae/bin/python)")
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args(argv)

    import tensorflow as tf

    # Before anything runs: the pools are sized when TensorFlow's runtime starts.
    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    import keras
    import numpy as np

    import zoo

    keras.utils.set_random_seed(0)
    serialized = preset_config()
    config = serialized["config"]
    if args.network == "mlp":
        config = {**config, "network": "mlp", "hidden_dims": [512, 256], "num_res_blocks": 0}
        serialized = {**serialized, "config": config}
    network = "conv" if config["network"] == "conv" else "mlp"
    if config["network"] == "conv" and (config["hidden_dims"] != [32, 64] or config["num_res_blocks"] != 1
                                        or config["upsampling"] != "nearest"):
        # The torch network below is written for this configuration only.
        raise SystemExit(f"The {PRESET} preset's network changed: update the torch network "
                         f"of this benchmark. Received: {config}")
    total = args.warmup_rounds + args.rounds
    # Other jobs on this machine change every figure, and torch's OpenMP threads suffer more
    # from a busy machine than TensorFlow's pools: record the load the figures were taken at.
    load_start = os.getloadavg()
    if load_start[0] > os.cpu_count():
        print(f"warning: load average {load_start[0]:.1f} on {os.cpu_count()} CPUs; the figures, "
              "Pythae's above all, will not be those of an idle machine", file=sys.stderr)

    images = training_images(args.data_dir, seed=0)
    ds = zoo.data.from_arrays(images, batch_size=args.batch_size, shuffle=True, seed=0,
                              drop_remainder=True).repeat()

    model = keras.saving.deserialize_keras_object(serialized)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    one_step = keras.saving.deserialize_keras_object(serialized)
    one_step.compile(optimizer=keras.optimizers.Adam(1e-3), steps_per_execution=1)
    one_step_ds = zoo.data.from_arrays(
        images[np.random.default_rng(1).permutation(len(images))], batch_size=args.batch_size,
        drop_remainder=True).repeat()
    hand_step, hand_variables = make_hand_written(config)
    hand_iterator = iter(ds)  # one iterator for the run, as the zoo's one fit call has

    pythae = None
    python = find_pythae_python(args.pythae_python)
    if python is not None:
        data_path = os.path.join(tempfile.mkdtemp(prefix="fit_comparison_"), "images.npy")
        np.save(data_path, images[..., 0].astype(np.uint8))
        pythae = PythaeChild(python, data_path, network, args.steps, args.batch_size,
                             args.threads, total, seed=0)
        os.remove(data_path)
        os.rmdir(os.path.dirname(data_path))

    parameters = {"zoo": sum(int(np.prod(w.shape)) for w in model.trainable_weights),
                  "zoo_one_step": sum(int(np.prod(w.shape)) for w in one_step.trainable_weights),
                  "hand_written": sum(int(np.prod(v.shape)) for v in hand_variables)}
    if pythae is not None:
        parameters["pythae"] = pythae.info["parameters"]
    # Same network: the same number of trainable parameters in all three.
    assert len(set(parameters.values())) == 1, parameters

    images_per_round = args.steps * args.batch_size
    trainers = ["zoo", "zoo_one_step", "hand_written"] + (["pythae"] if pythae is not None else [])
    seconds = {t: [] for t in trainers}
    cpu_seconds = {t: [] for t in trainers}

    def run_hand_written():
        start, cpu = time.perf_counter(), time.process_time()
        for _ in range(args.steps):
            loss = hand_step(next(hand_iterator))
        float(loss)  # the steps have run
        seconds["hand_written"].append(time.perf_counter() - start)
        cpu_seconds["hand_written"].append(time.process_time() - cpu)

    def run_pythae():
        figures = pythae.epoch()
        seconds["pythae"].append(figures["seconds"])
        cpu_seconds["pythae"].append(figures["cpu_seconds"])

    class EpochClock(keras.callbacks.Callback):
        """Times the one-step model's epoch, its `fit` call's setup excluded."""

        def on_epoch_begin(self, epoch, logs=None):
            self.start, self.cpu = time.perf_counter(), time.process_time()

        def on_epoch_end(self, epoch, logs=None):
            seconds["zoo_one_step"].append(time.perf_counter() - self.start)
            cpu_seconds["zoo_one_step"].append(time.process_time() - self.cpu)

    def run_one_step():
        one_step.fit(one_step_ds, epochs=1, steps_per_epoch=args.steps, verbose=0,
                     callbacks=[EpochClock()])

    others = {"hand_written": run_hand_written, "pythae": run_pythae, "zoo_one_step": run_one_step}

    class Interleave(keras.callbacks.Callback):
        """Times each zoo epoch; runs the other trainers' turns before or after it."""

        def order(self, epoch):
            return trainers if epoch % 2 == 0 else trainers[::-1]

        def on_epoch_begin(self, epoch, logs=None):
            order = self.order(epoch)
            for name in order[:order.index("zoo")]:
                others[name]()
            self.start, self.cpu = time.perf_counter(), time.process_time()

        def on_epoch_end(self, epoch, logs=None):
            seconds["zoo"].append(time.perf_counter() - self.start)
            cpu_seconds["zoo"].append(time.process_time() - self.cpu)
            order = self.order(epoch)
            for name in order[order.index("zoo") + 1:]:
                others[name]()
            print(f"round {epoch + 1 - args.warmup_rounds}"
                  f"{' (warm-up)' if epoch < args.warmup_rounds else ''}: " + ", ".join(
                      f"{t} {images_per_round / seconds[t][-1]:,.0f} img/s" for t in trainers),
                  flush=True)

    try:
        model.fit(ds, epochs=total, steps_per_epoch=args.steps, verbose=0, callbacks=[Interleave()])
    finally:
        if pythae is not None:
            pythae.close()

    timed = slice(args.warmup_rounds, None)
    rates = {t: [images_per_round / s for s in seconds[t][timed]] for t in trainers}
    cpu_ms = {t: [1000 * c / images_per_round for c in cpu_seconds[t][timed]] for t in trainers}
    pair_ratios = {t: [z / o for z, o in zip(rates["zoo"], rates[t])] for t in trainers if t != "zoo"}
    median = {t: statistics.median(v) for t, v in rates.items()}
    ratios = {t: statistics.median(v) for t, v in pair_ratios.items()}
    quartiles = {t: statistics.quantiles(v, n=4) for t, v in pair_ratios.items()}
    met = {t: ratios[t] >= GOALS[t] for t in ratios if t in GOALS}
    rows = []
    for t in trainers:
        ratio = "" if t == "zoo" else (f"**{ratios[t]:.2f}** ({quartiles[t][0]:.2f} - "
                                       f"{quartiles[t][2]:.2f})")
        goal = f"≥ {GOALS[t]}: {'met' if met[t] else 'not met'}" if t in GOALS else ""
        rows.append([NAMES[t], f"{median[t]:,.0f}", f"{min(rates[t]):,.0f} - {max(rates[t]):,.0f}",
                     f"{statistics.median(cpu_ms[t]):.2f}", ratio, goal])
    versions = {"numpy": np.__version__}
    if pythae is not None:
        versions.update(torch=pythae.info["torch"], pythae=pythae.info["pythae"])
    description = ("vae_mnist preset network: conv 32-64, 1 residual block per stage, nearest "
                   "upsampling, latent 32" if args.network == "preset"
                   else "MLP 784-512-256-32 (the vae_mnist preset's other settings)")
    steps_per_execution = {"zoo": int(model.steps_per_execution), "zoo_one_step": 1}
    common.write_results(
        "fit_comparison_conv" if args.network == "preset" else "fit_comparison",
        {"model": f"{description}, Bernoulli, Adam 1e-3, float32, statically binarized MNIST",
         "network": network, "config": config, "parameters": parameters,
         "batch_size": args.batch_size, "steps_per_round": args.steps, "rounds": args.rounds,
         "steps_per_execution": steps_per_execution,
         "warmup_rounds": args.warmup_rounds, "threads": args.threads,
         "threads_seen": {"tensorflow_intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
                          "tensorflow_inter_op": tf.config.threading.get_inter_op_parallelism_threads(),
                          **({"torch": pythae.info["threads"], "torch_interop": pythae.info["interop_threads"]}
                             if pythae is not None else {})},
         "versions": versions,
         "load_average": {"start": list(load_start), "end": list(os.getloadavg())},
         "pythae": None if pythae is not None else "skipped: no venv with pythae and torch",
         "seconds": seconds, "cpu_seconds": cpu_seconds, "images_per_second": rates,
         "median_images_per_second": median, "pair_ratios": pair_ratios, "ratios": ratios,
         "ratio_quartiles": {t: [q[0], q[2]] for t, q in quartiles.items()},
         "goals": GOALS, "met": met},
        rows, ["trainer", "median img/s", "range img/s", "CPU ms / image",
               "zoo / this (median of rounds, quartiles)", "goal"],
        command="python benchmarks/speed/fit_comparison.py " + " ".join(
            sys.argv[1:] if argv is None else argv),
        group="speed")
    return 0


# ---------------------------------------------------------------------------- Pythae side
def torch_networks(network, latent_dim, min_scale):
    """Pythae encoder and decoder with the zoo's layers, written in torch (NCHW)."""
    import torch
    from pythae.models.base.base_utils import ModelOutput
    from pythae.models.nn import BaseDecoder, BaseEncoder
    from torch import nn
    from torch.nn import functional as F

    class Residual(nn.Module):
        """`zoo.networks.ResidualBlock`: x + conv(relu(conv(relu(x)))), second conv at zero."""

        def __init__(self, channels, preactivate):
            super().__init__()
            self.preactivate = preactivate
            self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
            self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
            nn.init.zeros_(self.conv2.weight)
            nn.init.zeros_(self.conv2.bias)

        def forward(self, x):
            h = F.relu(x) if self.preactivate else x
            return x + self.conv2(F.relu(self.conv1(h)))

    class Encoder(BaseEncoder):
        def __init__(self):
            super().__init__()
            if network == "conv":  # zoo.networks.ConvEncoder((32, 64), num_res_blocks=1)
                self.features = nn.Sequential(
                    nn.Conv2d(1, 32, 3, stride=2, padding=1), nn.ReLU(), Residual(32, True),
                    nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.ReLU(), Residual(64, True),
                    nn.Flatten())
                width = 64 * 7 * 7
            else:  # zoo.networks.MLPEncoder((512, 256))
                self.features = nn.Sequential(nn.Flatten(), nn.Linear(784, 512), nn.ReLU(),
                                              nn.Linear(512, 256), nn.ReLU())
                width = 256
            self.head = nn.Linear(width, 2 * latent_dim)

        def forward(self, x):
            loc, raw = self.head(self.features(x)).chunk(2, dim=-1)
            # The zoo's scale, softplus + floor, as the log-variance Pythae takes.
            scale = F.softplus(raw) + min_scale
            return ModelOutput(embedding=loc, log_covariance=2 * torch.log(scale))

    class Decoder(BaseDecoder):
        def __init__(self):
            super().__init__()
            if network == "conv":  # zoo.networks.ConvDecoder(filters=(64, 32), num_res_blocks=1)
                self.net = nn.Sequential(
                    nn.Linear(latent_dim, 64 * 7 * 7), nn.ReLU(), nn.Unflatten(1, (64, 7, 7)),
                    Residual(64, False), nn.Upsample(scale_factor=2, mode="nearest"),
                    nn.Conv2d(64, 32, 3, padding=1), nn.ReLU(),
                    Residual(32, False), nn.Upsample(scale_factor=2, mode="nearest"),
                    nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(),
                    nn.Conv2d(32, 1, 3, padding=1))
            else:  # zoo.networks.MLPDecoder((256, 512))
                self.net = nn.Sequential(nn.Linear(latent_dim, 256), nn.ReLU(), nn.Linear(256, 512),
                                         nn.ReLU(), nn.Linear(512, 784), nn.Unflatten(1, (1, 28, 28)))

        def forward(self, z):
            # Pythae's "bce" loss takes probabilities.
            return ModelOutput(reconstruction=torch.sigmoid(self.net(z)))

    return Encoder(), Decoder()


def pythae_worker(argv):
    """The child process: builds Pythae's VAE and trainer, then trains one epoch per
    "epoch" line on stdin and prints its figures; stops when stdin closes."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--pythae-worker", action="store_true")
    for name in ("--data", "--network"):
        parser.add_argument(name, required=True)
    for name in ("--steps", "--batch-size", "--threads", "--epochs", "--seed"):
        parser.add_argument(name, type=int, required=True)
    args = parser.parse_args(argv)

    from importlib import metadata

    import numpy as np
    import torch
    from pythae.data.datasets import BaseDataset
    from pythae.models import VAE, VAEConfig
    from pythae.trainers import BaseTrainer, BaseTrainerConfig
    from pythae.trainers.training_callbacks import TrainingCallback

    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(args.threads)
    torch.manual_seed(args.seed)
    images = np.load(args.data)  # uint8 {0, 1}, [n, 28, 28]
    rng = np.random.default_rng(args.seed)
    subset = images[rng.choice(len(images), args.steps * args.batch_size, replace=False)]
    data = torch.from_numpy(subset).float().unsqueeze(1)  # [n, 1, 28, 28]
    dataset = BaseDataset(data, torch.zeros(len(data)))

    encoder, decoder = torch_networks(args.network, latent_dim=32, min_scale=1e-4)
    model = VAE(VAEConfig(input_dim=(1, 28, 28), latent_dim=32, reconstruction_loss="bce"),
                encoder=encoder, decoder=decoder)

    class Gate(TrainingCallback):
        """Holds each epoch until the parent asks for it; reports its wall and CPU time."""

        def on_epoch_begin(self, training_config, **kwargs):
            if sys.stdin.readline().strip() != "epoch":
                sys.exit(0)  # the parent is done
            self.start, self.cpu = time.perf_counter(), time.process_time()

        def on_log(self, training_config, logs, **kwargs):
            # Pythae calls on_log last in each iteration of its epoch loop.
            print(MARK + json.dumps({"seconds": time.perf_counter() - self.start,
                                     "cpu_seconds": time.process_time() - self.cpu,
                                     "loss": float(logs["train_epoch_loss"])}), flush=True)

    with tempfile.TemporaryDirectory(prefix="pythae_") as output_dir:
        trainer = BaseTrainer(model, train_dataset=dataset, training_config=BaseTrainerConfig(
            output_dir=output_dir, per_device_train_batch_size=args.batch_size,
            num_epochs=args.epochs, learning_rate=1e-3, optimizer_cls="Adam", no_cuda=True,
            seed=args.seed), callbacks=[Gate()])
        print(MARK + json.dumps({
            "torch": torch.__version__, "pythae": metadata.version("pythae"),
            "threads": torch.get_num_threads(), "interop_threads": torch.get_num_interop_threads(),
            "parameters": sum(p.numel() for p in model.parameters() if p.requires_grad)}),
            flush=True)
        trainer.train()
    return 0


if __name__ == "__main__":
    if "--pythae-worker" in sys.argv[1:]:
        sys.exit(pythae_worker(sys.argv[1:]))
    sys.exit(main())
