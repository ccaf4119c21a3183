"""The first `fit` of a model: optimizer built in `compile` (now) against inside the trace.

Without a distribution strategy, Keras 3 builds the optimizer's slots during the first
trace of the train step; a `tf.function` that creates variables is traced a second time,
so a model's first `fit` paid for two traces. `LatentVariableModel.compile` now builds
the optimizer at once (as Keras itself does when it loads a compiled model). This script
times `compile` and the first `fit` (3 steps of 32 examples, which is almost all
tracing) both ways, in one run and alternating the order, and reports the median ratio
per model:

  - "keras default": `keras.Model.compile` called directly, bypassing the zoo's build;
  - "zoo compile": `model.compile`, the optimizer built there.

Each measurement runs in its own subprocess (a fresh TensorFlow, no warm trace caches).

    python benchmarks/experiments/first_fit.py --repeats 3
"""

import argparse
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # benchmarks/, for common

import common

MODELS = {
    "VAE mlp (784-512-256-32)": "zoo.VAE(input_shape=(28, 28, 1), latent_dim=32, "
                                "hidden_dims=(512, 256), seed=0)",
    "VAE conv (32-64, 1 residual block)": "zoo.VAE(input_shape=(28, 28, 1), latent_dim=16, "
                                          "network='conv', hidden_dims=(32, 64), "
                                          "num_res_blocks=1, seed=0)",
    "HVAE conv (2 groups per stage)": "zoo.HVAE(input_shape=(28, 28, 1), network='conv', "
                                      "hidden_dims=(16, 32), latent_dims=(4, 8), "
                                      "groups_per_stage=2, num_res_blocks=1, seed=0)",
    "flow-prior VAE (MAF, 4 flows)": "zoo.FlowPriorVAE(input_shape=(28, 28, 1), latent_dim=16, "
                                     "hidden_dims=(512, 256), flow='maf', num_flows=4, seed=0)",
}
MODES = ("keras default", "zoo compile")

CHILD = r"""
import sys, time
import numpy as np
import keras
import zoo

model = {model}
optimizer = keras.optimizers.Adam(1e-3)
x = (np.random.default_rng(0).uniform(size=(96, 28, 28, 1)) < 0.2).astype(np.float32)
start = time.perf_counter()  # compile included: the zoo's builds the optimizer there
if {keras_default}:
    keras.Model.compile(model, optimizer=optimizer)  # Keras' own: no optimizer build
else:
    model.compile(optimizer=optimizer)
model.fit(x, batch_size=32, epochs=1, steps_per_epoch=3, shuffle=False, verbose=0)
print("SECONDS", time.perf_counter() - start)
"""


def first_fit_seconds(model_code, mode):
    code = CHILD.format(model=model_code, keras_default=mode == "keras default")
    return common.child_seconds(code)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    figures = common.paired_figures(
        MODELS, lambda name, mode: first_fit_seconds(MODELS[name], mode), MODES, args.repeats)
    rows = [[name, f"{statistics.median(f['seconds']['keras default']):.2f}",
             f"{statistics.median(f['seconds']['zoo compile']):.2f}", f"{f['median_ratio']:.2f}"]
            for name, f in figures.items()]
    common.write_results(
        "first_fit", {"repeats": args.repeats, "steps": 3, "batch_size": 32,
                      "models": MODELS, "figures": figures},
        rows, ["model", "compile + first fit, keras default (s)", "compile + first fit, zoo (s)",
               "ratio (median of the paired runs)"],
        command="python benchmarks/experiments/first_fit.py " + " ".join(argv), group="experiments")
    return 0


if __name__ == "__main__":
    sys.exit(main())
