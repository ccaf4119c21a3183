"""How fast the importance-weighted NLL runs, against what the hardware can do.

For each MNIST preset, the estimator (`zoo.evaluation.ImportanceWeightedEstimator`) scores
the same test images with the same seeds in float32, float32 compiled by XLA, and bfloat16
networks (distributions and log-densities float32), alternated over rounds in one process.
Reported per variant: decoder rows (example x sample) per second, the projected time of
the standard protocol (10,000 test images, k = 5000), the achieved GFLOP/s (floating-point
operations counted by TensorFlow's profiler on the estimator's graph) and its ratio to a
2048 x 2048 matrix product in the same precision, timed between the variants; and how far
each variant's log p(x) is from float32's on the same samples.

With --full PRESET[:PRECISION], also the whole protocol for real through `zoo.evaluate`
(resumable: the progress files are kept in runs/eval_speed/), written to its own results
file; --no-timing skips the timing table (e.g. to finish a full run alone).

    export VAEZOO_DATA_DIR=../shared/data
    python benchmarks/speed/evaluation.py                        # ~15 min on 2 cores
    python benchmarks/speed/evaluation.py --no-timing --full vae_mnist:bfloat16   # hours

Writes benchmarks/results/speed/evaluation.json and .md (timing), and evaluation_full.json
and .md (--full).
"""

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # benchmarks/, for common

import common
import keras
import numpy as np
import tensorflow as tf

import zoo
from zoo.evaluation.likelihood import DEFAULT_MAX_ROWS_PER_PASS, ImportanceWeightedEstimator

PRESETS = ("vae_mnist", "flow_vae_mnist", "hvae_mnist", "vaegan_mnist")
VARIANTS = {"float32": dict(precision="float32"),
            "float32 + XLA": dict(precision="float32", jit_compile=True),
            "bfloat16": dict(precision="bfloat16")}
# The standard protocol: the whole MNIST test set, k = 5000 (Burda et al. 2016).
FULL_EXAMPLES, FULL_SAMPLES = 10_000, 5000
MATMUL_SIZE = 2048


def graph_flops(fn, *args):
    """Floating-point operations of one call of `fn(*args)`, by TensorFlow's profiler."""
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    concrete = tf.function(fn).get_concrete_function(*args)
    graph = convert_variables_to_constants_v2(concrete).graph
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    return tf.compat.v1.profiler.profile(graph=graph, options=options).total_float_ops


def matmul_gflops(dtype, repeats=10):
    """GFLOP/s of a square matrix product in `dtype`, the machine's practical peak."""
    a = tf.cast(tf.random.stateless_normal([MATMUL_SIZE, MATMUL_SIZE], [1, 2]), dtype)
    product = tf.function(lambda a: a @ a)
    product(a).numpy()
    start = time.perf_counter()
    for _ in range(repeats):
        out = product(a)
    out.numpy()
    return repeats * 2 * MATMUL_SIZE ** 3 / (time.perf_counter() - start) / 1e9


def pass_shape(num_examples, num_samples):
    """(examples, samples) of the estimator's full passes."""
    rows = min(num_examples, DEFAULT_MAX_ROWS_PER_PASS)
    return rows, min(num_samples, max(1, DEFAULT_MAX_ROWS_PER_PASS // rows))


def measure_preset(name, x, num_samples, rounds, seed):
    model = zoo.from_preset(name)
    x = model.check_input("x", x)
    n = int(x.shape[0])
    examples, per_pass = pass_shape(n, num_samples)
    flops_per_row = graph_flops(lambda x: model.sample_log_weights(x, per_pass, tf.constant([0, 1])),
                                tf.TensorSpec(x[:examples].shape, tf.float32)) / (examples * per_pass)
    estimators = {label: ImportanceWeightedEstimator(model, **options)
                  for label, options in VARIANTS.items()}
    warm_k = per_pass + num_samples % per_pass  # traces the full and the last pass
    for estimator in estimators.values():
        estimator(x, warm_k, seed)
    seconds = {label: [] for label in estimators}
    peaks = {"float32": [], "bfloat16": []}
    values = {}
    for _ in range(rounds):
        for label, estimator in estimators.items():
            start = time.perf_counter()
            values[label] = estimator(x, num_samples, seed).numpy()
            seconds[label].append(time.perf_counter() - start)
            dtype = estimator.precision
            peaks[dtype].append(matmul_gflops(tf.bfloat16 if dtype == "bfloat16" else tf.float32))
    rows = n * num_samples
    figures = {"flops_per_row": flops_per_row, "num_examples": n, "num_samples": num_samples,
               "matmul_gflops": {k: statistics.median(v) for k, v in peaks.items() if v},
               "variants": {}}
    for label, times in seconds.items():
        median = statistics.median(times)
        precision = estimators[label].precision
        gflops = rows * flops_per_row / median / 1e9
        diff = values[label] - values["float32"]
        figures["variants"][label] = {
            "seconds": times, "median_seconds": median, "rows_per_second": rows / median,
            "gflops": gflops, "ratio_to_matmul": gflops / figures["matmul_gflops"][precision],
            "projected_full_minutes": FULL_EXAMPLES * FULL_SAMPLES / (rows / median) / 60,
            "nll": float(-values[label].mean()),
            "mean_log_p_difference": float(diff.mean()),
            "max_abs_log_p_difference": float(np.abs(diff).max())}
    return figures


def full_run(spec, data_dir, num_samples):
    name, _, precision = spec.partition(":")
    precision = precision or "float32"
    model = zoo.from_preset(name)
    # As the preset recipes evaluate (benchmarks/common.py: nll_recipe), so the NLL is
    # comparable with the one recorded in the preset's metadata.
    test = zoo.data.load("mnist", "test", data_dir=data_dir, batch_size=500, binarize="static",
                         seed=0)
    progress_path = os.path.join("runs", "eval_speed", f"{name}_{precision}_k{num_samples}.npz")
    os.makedirs(os.path.dirname(progress_path), exist_ok=True)
    figures = zoo.evaluate(model, test, num_samples=num_samples, seed=0, precision=precision,
                           progress_path=progress_path, progress=True)
    recorded = zoo.presets.load_metadata(name).get("metrics", {}).get(f"test_nll_k{num_samples}")
    return {"preset": name, "precision": precision, "num_samples": num_samples,
            "nll": figures["nll"], "nll_stderr": figures["nll_stderr"],
            "recorded_float32_nll": recorded,
            "minutes": figures["seconds"] / 60, "progress_file": progress_path}


def timing(args, command):
    """The timing table: every variant of every preset on the same images, alternated."""
    x, _ = zoo.data.load_numpy("mnist", f"test[:{args.num_examples}]", data_dir=args.data_dir,
                               binarize="static")
    results, table = {}, []
    for name in args.presets:
        figures = measure_preset(name, x, args.num_samples, args.rounds, seed=0)
        results[name] = figures
        for label, v in figures["variants"].items():
            table.append([name, label, f"{figures['flops_per_row'] / 1e6:.1f}",
                          f"{v['rows_per_second']:.0f}", f"{v['gflops']:.0f}",
                          f"{v['ratio_to_matmul']:.2f}", f"{v['projected_full_minutes']:.0f}",
                          f"{v['nll']:.3f}", f"{v['mean_log_p_difference']:+.4f}",
                          f"{v['max_abs_log_p_difference']:.3f}"])
            print(" | ".join(table[-1]), flush=True)
    header = ["preset", "variant", "MFLOP per row", "rows/s", "GFLOP/s",
              "ratio to matmul peak", "projected minutes (10k test, k=5000)",
              f"NLL ({args.num_examples} images)", "mean log p - float32", "max |log p - float32|"]
    payload = {"protocol": {"num_examples": args.num_examples, "num_samples": args.num_samples,
                            "rounds": args.rounds, "matmul": f"{MATMUL_SIZE}x{MATMUL_SIZE}",
                            "binarization": "static (one fixed draw)", "seed": 0},
               "results": results}
    common.write_results("evaluation", payload, table, header, command, group="speed")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--presets", nargs="+", default=list(PRESETS), choices=PRESETS)
    parser.add_argument("--num-examples", type=int, default=16,
                        help="test images per timing (default: 16)")
    parser.add_argument("--num-samples", "-k", type=int, default=FULL_SAMPLES)
    parser.add_argument("--rounds", type=int, default=2, help="alternations of the variants")
    parser.add_argument("--full", nargs="*", default=[], metavar="PRESET[:PRECISION]",
                        help="also run the whole protocol for these presets")
    parser.add_argument("--no-timing", action="store_true",
                        help="skip the timing table (only the --full runs)")
    parser.add_argument("--data-dir", default=os.environ.get("VAEZOO_DATA_DIR"))
    args = parser.parse_args(argv)
    argv = sys.argv[1:] if argv is None else argv
    keras.config.set_dtype_policy("float32")

    command = ("python benchmarks/speed/evaluation.py " + " ".join(argv)).strip()
    if not args.no_timing:
        timing(args, command)
    if args.full:
        runs = [full_run(spec, args.data_dir, args.num_samples) for spec in args.full]
        rows = [[r["preset"], r["precision"], f"{r['nll']:.2f} ± {r['nll_stderr']:.2f}",
                 r["recorded_float32_nll"], f"{r['minutes']:.1f}"] for r in runs]
        common.write_results(
            "evaluation_full",
            {"protocol": {"num_examples": FULL_EXAMPLES, "num_samples": args.num_samples,
                          "binarization": "static (seed 0)", "seed": 0,
                          "note": "minutes: wall time summed over the resumed sessions, on a shared machine"},
             "full_runs": runs},
            rows, ["preset", "precision", "NLL (nats)", "recorded float32 NLL",
                   "wall minutes (all sessions)"], command, group="speed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
