"""Training-step times of the CIFAR-10 models, side by side: what "the same training time"
means on a noisy machine.

The colour comparison gives `vae_cifar10`'s recipe (a second, shorter run) and the
hand-written Keras baseline of `benchmarks/quality/cifar10_side_by_side.py` the training
time of `hvae_cifar10`. Their runs take hours, often sessions apart, on machines whose
speed drifts: one `vae_cifar10` epoch took 356-385 s on one day and 509-589 s on the next,
alone on the same 2 cores. A wall-clock budget measured on one day and spent on another is
not the same budget. Here the three train in turn in one run, on the same JPEG pipeline
(batch 64), and what is kept is the ratio of their step times, which the drift moves
together. The budgets follow from it (the side-by-side script computes them from the
ratios in this file and the HVAE preset's epochs; they are written here too):

  - the VAE's epoch count: `hvae_cifar10`'s epochs x t(HVAE) / t(VAE), rounded (its
    cosine schedule spans them, so it is fixed before training);
  - the baseline's step count: `hvae_cifar10`'s epochs x 782 x t(HVAE) / t(baseline).

Each model is built and compiled as its recipe does (optimizer, schedule, EMA, update
guard included) and warmed up (tracing) before timing. Each round runs `--steps` steps
of each model in turn, the order rotated every round; a model's step time in a round is
the wall time of its steps / `--steps` (the zoo models inside one `fit` epoch, timed from
epoch begin to epoch end, as a long run is; each turn starts the data pipeline afresh,
for every model alike). Ratios are taken within a round and the median over rounds is
kept.

    VAEZOO_DATA_DIR=../shared/data python benchmarks/speed/cifar10_step_times.py

Writes benchmarks/results/speed/cifar10_step_times.json and .md. Run it alone.
"""

import argparse
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # benchmarks/, for common
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "recipes"))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "quality"))

import common  # noqa: E402  (puts the repository on sys.path; the imports above must come first)

MODELS = ("vae_cifar10", "hvae_cifar10", "keras_baseline")


def zoo_runner(recipe, train):
    """A function of `steps` that trains the recipe's model (compiled with the recipe's
    optimizer) for that many steps of one `fit` epoch and returns their wall time, from
    epoch begin to epoch end (the call's setup excluded, as in a long run)."""
    import keras

    class EpochTimer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds = time.perf_counter() - self.start

    model = recipe.build_model()
    model.compile(optimizer=recipe.build_optimizer(recipe.EPOCHS))
    timer = EpochTimer()

    def run(steps):
        model.fit(train, epochs=1, steps_per_epoch=steps, verbose=0, callbacks=[timer])
        return timer.seconds

    return run


def baseline_runner(train):
    import keras

    import cifar10_side_by_side as side

    encoder, decoder = side.build_baseline()
    step = side.baseline_train_step(encoder, decoder, keras.optimizers.Adam(1e-3))

    def run(steps):
        # A new iterator per turn, as each `fit` call of the zoo models makes: every model
        # pays the pipeline's start-up (the first batches' parallel decode) once a turn.
        start = time.perf_counter()
        for x in train.take(steps):
            loss = step(x)
        float(loss)  # wait for the last step
        return time.perf_counter() - start

    return run


def same_time_budgets(hvae_epochs, figures):
    """The training budgets that take as long as `hvae_epochs` HVAE epochs, from the
    measured ratios (`figures[name]["steps_per_vae_step"]`, this script's output): the
    VAE's epochs and the baseline's steps."""
    from vae_cifar10 import STEPS_PER_EPOCH

    vae_steps = hvae_epochs * STEPS_PER_EPOCH / figures["hvae_cifar10"]["steps_per_vae_step"]
    return {"hvae_cifar10_epochs": hvae_epochs,
            "vae_cifar10_epochs": round(vae_steps / STEPS_PER_EPOCH),
            "keras_baseline_steps": round(vae_steps * figures["keras_baseline"]["steps_per_vae_step"])}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100, help="steps per model per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup-steps", type=int, default=20)
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args(argv)
    for name in ("steps", "rounds", "warmup_steps"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    command = "python benchmarks/speed/cifar10_step_times.py " + " ".join(
        argv if argv is not None else sys.argv[1:])

    import keras

    import hvae_cifar10
    import vae_cifar10
    import zoo

    keras.utils.set_random_seed(0)
    train = zoo.data.load(vae_cifar10.DATASET, "train", data_dir=args.data_dir,
                          batch_size=vae_cifar10.BATCH_SIZE, seed=0).repeat()
    runners = {"vae_cifar10": zoo_runner(vae_cifar10, train),
               "hvae_cifar10": zoo_runner(hvae_cifar10, train),
               "keras_baseline": baseline_runner(train)}
    for run in runners.values():
        run(args.warmup_steps)  # tracing, the pipeline's first batches

    seconds = {name: [] for name in MODELS}
    for r in range(args.rounds):
        order = MODELS[r % len(MODELS):] + MODELS[:r % len(MODELS)]
        for name in order:
            seconds[name].append(runners[name](args.steps) / args.steps)
        print(f"round {r}: " + ", ".join(f"{n} {seconds[n][-1] * 1000:.0f} ms/step"
                                         for n in MODELS), flush=True)

    def ratio(name):  # how many of this model's steps fit in one vae_cifar10 step
        return statistics.median(v / o for v, o in zip(seconds["vae_cifar10"], seconds[name]))

    figures = {name: {"seconds_per_step": seconds[name],
                      "median_seconds_per_step": statistics.median(seconds[name]),
                      "steps_per_vae_step": ratio(name)} for name in MODELS}
    budgets = same_time_budgets(hvae_cifar10.EPOCHS, figures)
    rows = [[name, f"{figures[name]['median_seconds_per_step'] * 1000:.0f}",
             f"{figures[name]['steps_per_vae_step']:.3f}"] for name in MODELS]
    rows.append([f"budgets at hvae_cifar10's {hvae_cifar10.EPOCHS} epochs",
                 f"VAE {budgets['vae_cifar10_epochs']} epochs",
                 f"baseline {budgets['keras_baseline_steps']:,} steps"])
    common.write_results("cifar10_step_times", {
        "steps_per_round": args.steps, "rounds": args.rounds, "batch_size": vae_cifar10.BATCH_SIZE,
        "models": figures, "budgets": budgets}, rows,
        ["model", "ms per step (median)", "steps per vae_cifar10 step (median ratio)"],
        command, group="speed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
