"""Training throughput of every family in float32, with XLA, in mixed_bfloat16, and both.

Each registered family is trained in four modes: the float32 graph (Keras' default on a
CPU), float32 with `jit_compile=True`, the "mixed_bfloat16" policy (networks in bfloat16,
distributions and loss in float32), and mixed_bfloat16 with XLA. The models are each
family's first small config in `zoo/families.py` (`--configs small`, the default: small
networks, so per-step overhead weighs more than arithmetic), or the families' MNIST preset
configurations (`--configs presets`; the IWAE, which has no preset, takes the MLP of
`benchmarks/quality/iwae_mnist.py` with k = 5), at batch 128 on dynamically binarized
MNIST. After an untimed warm-up (tracing, XLA compilation), short chunks of training steps
of every (family, mode) alternate within each round, in reversed order every other round;
a chunk's throughput is batch size / its median step time. Reported: the median and range
over rounds, and the median over rounds of the within-round ratio to the float32 graph.

    VAEZOO_DATA_DIR=../shared/data python benchmarks/speed/precision.py
    VAEZOO_DATA_DIR=../shared/data python benchmarks/speed/precision.py --configs presets \
        --families vae hvae --rounds 1 --steps 5 --warmup 3
"""

import argparse
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # benchmarks/, for common

import common  # noqa: F401  (puts the repository on sys.path)
import keras
import numpy as np

import zoo
from zoo.evaluation.speed import StepTimer

BATCH = 128
#: mode name: (dtype policy, jit_compile)
MODES = {
    "float32": ("float32", False),
    "float32 + XLA": ("float32", True),
    "mixed_bfloat16": ("mixed_bfloat16", False),
    "mixed_bfloat16 + XLA": ("mixed_bfloat16", True),
}
#: family name: the preset whose configuration is measured, or an explicit configuration.
CONFIGS = {
    "vae": "vae_mnist",
    "hvae": "hvae_mnist",
    "flow_vae": "flow_vae_mnist",
    "vaegan": "vaegan_mnist",
    "iwae": {"latent_dim": 50, "network": "mlp", "hidden_dims": (200, 200), "activation": "tanh",
             "num_samples": 5, "seed": 0},
}


def _config(family, configs):
    """The constructor arguments measured for `family`, and a short description."""
    source = CONFIGS.get(family.name) if configs == "presets" else None
    if isinstance(source, str):
        return _preset_config(source), f"preset {source}"
    if isinstance(source, dict):
        return {"input_shape": (28, 28, 1), **source}, "MLP of quality/iwae_mnist.py"
    variant = next(iter(family.small_configs))
    return {"input_shape": (28, 28, 1), **family.small_configs[variant]}, f"small config {variant}"


def _preset_config(name):
    """The constructor arguments a built-in preset's `config.json` records."""
    import json

    path = os.path.join(os.path.dirname(zoo.__file__), "presets", name, "config.json")
    with open(path) as f:
        config = json.load(f)
    config = dict(config.get("config", config))
    for key in ("name", "trainable", "dtype"):
        config.pop(key, None)
    return config


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds (default: 5)")
    parser.add_argument("--steps", type=int, default=20, help="training steps per chunk (default: 20)")
    parser.add_argument("--warmup", type=int, default=10,
                        help="untimed steps per model first: tracing, XLA compilation (default: 10)")
    parser.add_argument("--families", nargs="+", default=None,
                        help="family names (default: every registered family)")
    parser.add_argument("--configs", choices=("small", "presets"), default="small",
                        help="each family's first small config from zoo/families.py (writes "
                             "precision.json), or its MNIST preset's (precision_presets.json; "
                             "much slower) (default: small)")
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args(argv)

    ds = zoo.data.load("mnist", "train", data_dir=args.data_dir, batch_size=BATCH,
                       binarize="dynamic", drop_remainder=True).repeat()
    chosen = [zoo.families.get(n) for n in args.families] if args.families else \
        list(zoo.families.all_families())
    models, described = {}, {}
    for family in chosen:
        config, described[family.name] = _config(family, args.configs)
        for mode, (dtype, jit) in MODES.items():
            keras.utils.set_random_seed(0)
            model = family.model_class(**{**config, "dtype": dtype})
            model.compile(optimizer=keras.optimizers.Adam(1e-3), jit_compile=jit)
            history = model.fit(ds, epochs=1, steps_per_epoch=args.warmup, verbose=0)
            if not np.isfinite(history.history["loss"][-1]):
                raise RuntimeError(f"{family.name} {mode}: loss not finite in the warm-up")
            models[(family.name, mode)] = model
            print(f"warmed up {family.name} / {mode}", flush=True)
    rates = {key: [] for key in models}
    ratios = {key: [] for key in models}
    losses = {}  # the last chunk's mean loss: every mode trains, not just runs
    for r in range(args.rounds):
        for family in chosen:
            order = list(MODES) if r % 2 == 0 else list(reversed(MODES))
            for mode in order:
                timer = StepTimer()
                history = models[(family.name, mode)].fit(ds, epochs=1, steps_per_epoch=args.steps,
                                                          verbose=0, callbacks=[timer])
                rates[(family.name, mode)].append(BATCH / statistics.median(timer.durations))
                losses[f"{family.name} / {mode}"] = history.history["loss"][-1]
            base = rates[(family.name, "float32")][-1]
            for mode in MODES:
                ratios[(family.name, mode)].append(rates[(family.name, mode)][-1] / base)
            print(f"round {r + 1} {family.name}: " + ", ".join(
                f"{m} {rates[(family.name, m)][-1]:,.0f}" for m in MODES) + " img/s", flush=True)
    rows = []
    for (name, mode) in models:
        v, q = rates[(name, mode)], ratios[(name, mode)]
        rows.append([name, described[name], mode, f"{statistics.median(v):,.0f}",
                     f"{min(v):,.0f} - {max(v):,.0f}",
                     "1" if mode == "float32" else f"**{statistics.median(q):.2f}** "
                                                   f"({min(q):.2f} - {max(q):.2f})"])
    key = lambda f, m: f"{f} / {m}"  # noqa: E731
    common.write_results(
        "precision" if args.configs == "small" else "precision_presets",
        {"batch_size": BATCH, "steps_per_chunk": args.steps, "rounds": args.rounds,
         "warmup_steps": args.warmup, "configs": described,
         "images_per_second": {key(*k): v for k, v in rates.items()},
         "median": {key(*k): statistics.median(v) for k, v in rates.items()},
         "ratio_to_float32": {key(*k): statistics.median(v) for k, v in ratios.items()},
         "ratio_range": {key(*k): [min(v), max(v)] for k, v in ratios.items()},
         "last_chunk_loss": losses},
        rows, ["family", "model", "mode", "median img/s", "range img/s",
               "throughput / float32 graph (median of rounds, range)"],
        command="python benchmarks/speed/precision.py " + " ".join(argv or sys.argv[1:]),
        group="speed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
