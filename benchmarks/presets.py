"""The built-in presets: size on disk, load time, and what their decoders export to.

For every preset in `zoo.list_presets()`:
  - size of the preset directory and of its weights;
  - load time: a cold `python -c "import zoo; zoo.from_preset(name)"` in a fresh
    process (import included, median of 3), and a warm `zoo.from_preset` in this one
    (median of 5);
  - the decoder exported to a SavedModel and to float32 / int8 TFLite: sizes, and the
    int8 max / mean absolute error against Keras on 1,000 noise vectors.
The export figures are written into each preset's metadata.json (under "metrics") and
its regenerated MODEL_CARD.md; the weights are not touched.

    python benchmarks/presets.py

Writes benchmarks/results/presets.json and .md.
"""

import os
import statistics
import subprocess
import sys
import tempfile
import time

import common
import numpy as np

import export
import zoo
from zoo import presets


def _size(path):
    if os.path.isfile(path):
        return os.path.getsize(path)
    return sum(os.path.getsize(os.path.join(root, f)) for root, _, files in os.walk(path) for f in files)


def _cold_load_seconds(name, repeats=3):
    code = ("import time; t = time.perf_counter(); import zoo; zoo.from_preset(%r); "
            "print(time.perf_counter() - t)" % name)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    times = []
    for _ in range(repeats):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             check=True, env=env, cwd=os.path.dirname(common.HERE))
        times.append(float(out.stdout.strip().splitlines()[-1]))
    return statistics.median(times)


def _warm_load_seconds(name, repeats=5):
    zoo.from_preset(name)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        zoo.from_preset(name)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _export_figures(model, num_vectors=1000):
    from export.edge import EdgeSampler

    with tempfile.TemporaryDirectory() as tmp:
        served = export.saved_model(model, os.path.join(tmp, "served"), version=1)
        f32 = export.tflite(model, os.path.join(tmp, "f32.tflite"))
        i8 = export.tflite(model, os.path.join(tmp, "int8.tflite"), quantization="int8")
        noise = np.random.default_rng(0).standard_normal((num_vectors, model.noise_dim)).astype(np.float32)
        expected = np.concatenate([np.asarray(model.sample_from_noise(noise[i:i + 100]))
                                   for i in range(0, num_vectors, 100)])
        sampler = EdgeSampler(i8)
        got = np.concatenate([sampler.sample_from_noise(noise[i:i + 100])
                              for i in range(0, num_vectors, 100)])
        error = np.abs(got - expected)
        return {"saved_model_kib": round(_size(served) / 1024, 1),
                "tflite_float32_kib": round(_size(f32) / 1024, 1),
                "tflite_int8_kib": round(_size(i8) / 1024, 1),
                "tflite_int8_max_abs_error": round(float(error.max()), 4),
                "tflite_int8_mean_abs_error": round(float(error.mean()), 5)}


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    rows, payload = [], {}
    for name in zoo.list_presets():
        directory = presets.resolve(name)
        model = zoo.from_preset(name)
        figures = {
            "class_name": type(model).__name__,
            "parameters": int(model.count_params()),
            "directory_kib": round(_size(directory) / 1024, 1),
            "weights_kib": round(_size(os.path.join(directory, presets.WEIGHTS_FILE)) / 1024, 1),
            "cold_load_seconds": round(_cold_load_seconds(name), 2),
            "warm_load_seconds": round(_warm_load_seconds(name), 3),
            **_export_figures(model),
        }
        meta = presets.update_metadata(directory, metrics={
            k: figures[k] for k in ("saved_model_kib", "tflite_float32_kib", "tflite_int8_kib",
                                    "tflite_int8_mean_abs_error")})
        headline = {k: v for k, v in meta["metrics"].items() if k.startswith(("test_nll", "fd"))}
        figures["headline"] = headline
        payload[name] = figures
        rows.append([f"`{name}`", figures["class_name"], f"{figures['parameters']:,}",
                     ", ".join(f"{k} {v}" for k, v in headline.items()),
                     f"{figures['directory_kib']:,.0f} KiB", f"{figures['cold_load_seconds']:.1f} s",
                     f"{figures['warm_load_seconds'] * 1000:.0f} ms",
                     f"{figures['tflite_int8_kib']:,.0f} KiB / {figures['tflite_float32_kib']:,.0f} KiB",
                     f"{figures['tflite_int8_mean_abs_error']:.4f}"])
    common.write_results(
        "presets", {"presets": payload},
        rows, ["preset", "class", "parameters", "measured (metadata.json)", "size on disk",
               "cold load (import + load)", "warm load", "int8 / float32 TFLite",
               "int8 mean abs error"],
        command="python benchmarks/presets.py " + " ".join(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
