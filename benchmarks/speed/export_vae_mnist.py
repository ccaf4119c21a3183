"""Export report for the benchmark VAE's decoder: every target against Keras.

Exports the `vae_mnist` preset (trained by benchmarks/recipes/vae_mnist.py) to a SavedModel and to
float32 / float16 / dynamic-range / int8 TFLite, then measures on 1,000 noise vectors:
file size, max and mean absolute error of the sampled pixel probabilities against the
Keras model, and p50/p95 latency at batch 1 and 64 on one thread. All targets are
timed in the same run, alternating, so their ratios are comparable.

    python benchmarks/speed/export_vae_mnist.py

Writes benchmarks/results/speed/export_vae_mnist.json and .md.
"""

import argparse
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # benchmarks/, for common

import common
import numpy as np

import export
import zoo
from export import report

TARGETS = {"int8_size_ratio": 0.28, "int8_mean_abs_error": 0.01,
           "float32_max_abs_error": 1e-5, "int8_speedup_b1": 3.0}


def _explain_int8_max_error(model, path, num_vectors=1000, seed=0):
    """Where the worst int8 pixel error occurs: the Keras probability there, and the
    output quantization step, which bounds what rounding alone can explain."""
    from export.edge import EdgeSampler

    sampler = EdgeSampler(path)
    noise = np.random.default_rng(seed).standard_normal((num_vectors, model.noise_dim)).astype(np.float32)
    keras_out = np.concatenate([np.asarray(model.sample_from_noise(noise[i:i + 64]))
                                for i in range(0, num_vectors, 64)])
    tflite_out = np.concatenate([sampler.sample_from_noise(noise[i:i + 64])
                                 for i in range(0, num_vectors, 64)])
    error = np.abs(tflite_out - keras_out)
    worst = np.unravel_index(np.argmax(error), error.shape)
    output = sampler._runners["sample_from_noise"].get_output_details()["samples"]
    mid = (keras_out > 0.1) & (keras_out < 0.9)
    return {
        "keras_probability_at_max_error": float(keras_out[worst]),
        "tflite_probability_at_max_error": float(tflite_out[worst]),
        "share_of_pixels_with_error_above_0.05": float(np.mean(error > 0.05)),
        "mean_abs_error_grey_pixels_0.1_to_0.9": float(error[mid].mean()) if mid.any() else None,
        "mean_abs_error_saturated_pixels": float(error[~mid].mean()),
        "output_dtype": str(np.dtype(output["dtype"])),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="vae_mnist", help="preset name/dir or .keras file")
    parser.add_argument("--repeats", type=int, default=300)
    args = parser.parse_args(argv)
    command = ("python benchmarks/speed/export_vae_mnist.py "
               + " ".join(argv if argv is not None else sys.argv[1:]))

    model = zoo.load_model(args.model)
    with tempfile.TemporaryDirectory() as tmp:
        version_dir = export.saved_model(model, os.path.join(tmp, "served"), version=1)
        paths = {q: export.tflite(model, os.path.join(tmp, f"{q}.tflite"), quantization=q)
                 for q in export.QUANTIZATIONS}
        rows = report.build_report(model, saved_model_dir=version_dir,
                                   tflite_paths=list(paths.values()), repeats=args.repeats)
        explanation = _explain_int8_max_error(model, paths["int8"])
    by_target = {row["target"]: row for row in rows}
    f32, i8 = by_target["TFLite float32"], by_target["TFLite int8"]
    measured = {
        "int8_size_ratio": i8["size_bytes"] / f32["size_bytes"],
        "int8_mean_abs_error": i8["mean_abs_error"],
        "int8_max_abs_error": i8["max_abs_error"],
        "float32_max_abs_error": f32["max_abs_error"],
        "int8_speedup_b1": f32["p50_ms_b1"] / i8["p50_ms_b1"],
        "int8_speedup_b64": f32["p50_ms_b64"] / i8["p50_ms_b64"],
    }
    verdict = {
        "int8_size_ratio": measured["int8_size_ratio"] <= TARGETS["int8_size_ratio"],
        "int8_mean_abs_error": measured["int8_mean_abs_error"] <= TARGETS["int8_mean_abs_error"],
        "float32_max_abs_error": measured["float32_max_abs_error"] <= TARGETS["float32_max_abs_error"],
        "int8_speedup_b1": measured["int8_speedup_b1"] >= TARGETS["int8_speedup_b1"],
    }
    header = ["target", "size", "max abs err", "mean abs err", "p50 ms b=1", "p95 ms b=1",
              "p50 ms b=64", "p95 ms b=64"]
    table = [[r["target"], f"{r['size_bytes'] / 1024:,.1f} KiB", f"{r['max_abs_error']:.2e}",
              f"{r['mean_abs_error']:.2e}", f"{r['p50_ms_b1']:.3f}", f"{r['p95_ms_b1']:.3f}",
              f"{r['p50_ms_b64']:.3f}", f"{r['p95_ms_b64']:.3f}"] for r in rows]
    common.write_results("export_vae_mnist", {
        "model": args.model, "rows": rows, "measured": measured, "targets": TARGETS,
        "met": verdict, "int8_max_error_explained": explanation,
        "protocol": "1,000 N(0, I) noise vectors (seed 0); latency after 10 warm-up calls, "
                    f"{args.repeats} timed calls, 1 thread, EdgeSampler (LiteRT) and "
                    "SavedModel signatures in a 1-thread TensorFlow child process",
    }, table, header, command, group="speed")
    for key, ok in verdict.items():
        print(f"{key}: {measured[key]:.4g} (target {TARGETS[key]}) -> {'met' if ok else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
