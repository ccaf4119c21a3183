"""The built-in presets: size on disk, load time, and what their decoders export to.

For every preset in `zoo.list_presets()`:
  - size of the preset directory and of its weights;
  - load time: a cold `python -c "import zoo; zoo.from_preset(name)"` in a fresh
    process (import included, median of 3), and a warm `zoo.from_preset` in this one
    (median of 5);
  - the decoder exported to a SavedModel and to float32 / int8 TFLite: sizes, and the
    int8 max / mean absolute error against Keras on 1,000 noise vectors.
The SavedModel and float32 sizes are written into each preset's metadata.json (under
"metrics") and its regenerated MODEL_CARD.md; the weights are not touched. The int8
figures there are the shipped sampler's, which `int8_presets.py --edge-dir` writes.

    python benchmarks/quality/presets.py                          # every built-in preset
    python benchmarks/quality/presets.py --presets vae_mnist      # re-measure some; keep the others' rows

Writes benchmarks/results/quality/presets.json and .md.
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # benchmarks/, for common

import common

import export
import zoo
from export import report
from zoo import io_utils, presets
from zoo.evaluation import speed


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
    return statistics.median(speed.time_calls(lambda: zoo.from_preset(name), repeats, warmup=1))


def _export_figures(model):
    """Sizes, and the int8 errors against Keras on 1,000 noise vectors (export.report).

    An int8 conversion that the exporter's parity check refuses is measured anyway (the
    refused file travels with the error) and reported as refused, with the check's message."""
    from export.lite import ConversionError

    refused = None
    with tempfile.TemporaryDirectory() as tmp:
        served = export.saved_model(model, os.path.join(tmp, "served"), version=1)
        paths = [export.tflite(model, os.path.join(tmp, "float32.tflite"))]
        try:
            paths.append(export.tflite(model, os.path.join(tmp, "int8.tflite"), quantization="int8"))
        except ConversionError as err:
            refused = str(err)
            paths.append(os.path.join(tmp, "int8.tflite"))
            with open(paths[-1], "wb") as f:
                f.write(err.flatbuffer)
        saved, f32, i8 = report.build_report(model, saved_model_dir=served, tflite_paths=paths,
                                             batch_sizes=())
    return {"saved_model_kib": round(saved["size_bytes"] / 1024, 1),
            "tflite_float32_kib": round(f32["size_bytes"] / 1024, 1),
            "tflite_int8_kib": round(i8["size_bytes"] / 1024, 1),
            "tflite_int8_max_abs_error": round(i8["max_abs_error"], 4),
            "tflite_int8_mean_abs_error": round(i8["mean_abs_error"], 5),
            "tflite_int8_refused": refused}


def _measure(name):
    """The figures of one preset; also writes its export figures into its metadata."""
    directory = presets.resolve(name)
    model = zoo.from_preset(name)
    figures = {
        "class_name": type(model).__name__,
        "parameters": int(model.count_params()),
        "directory_kib": round(io_utils.directory_size(directory) / 1024, 1),
        "weights_kib": round(os.path.getsize(os.path.join(directory, presets.WEIGHTS_FILE)) / 1024, 1),
        "cold_load_seconds": round(_cold_load_seconds(name), 2),
        "warm_load_seconds": round(_warm_load_seconds(name), 3),
        **_export_figures(model),
    }
    meta = presets.update_metadata(directory, metrics={
        k: figures[k] for k in ("saved_model_kib", "tflite_float32_kib")})
    figures["headline"] = {k: v for k, v in meta["metrics"].items()
                           if k.startswith(("test_nll", "fd"))}
    return figures


def _row(name, figures):
    return [f"`{name}`", figures["class_name"], f"{figures['parameters']:,}",
            ", ".join(f"{k} {v}" for k, v in figures["headline"].items()),
            f"{figures['directory_kib']:,.0f} KiB", f"{figures['cold_load_seconds']:.1f} s",
            f"{figures['warm_load_seconds'] * 1000:.0f} ms",
            f"{figures['saved_model_kib']:,.0f} KiB",
            f"{figures['tflite_int8_kib']:,.0f} KiB / {figures['tflite_float32_kib']:,.0f} KiB",
            f"{figures['tflite_int8_mean_abs_error']:.4f}"
            + (f" (max {figures['tflite_int8_max_abs_error']:.2f}: **refused** by "
               f"export.tflite's parity check)" if figures["tflite_int8_refused"] else "")]


def main(argv=None):
    import argparse

    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=None, metavar="NAME",
                        help="measure only these; the others keep their figures from the "
                             "last run (default: all)")
    args = parser.parse_args(argv)
    names = zoo.list_presets()
    unknown = sorted(set(args.presets or ()) - set(names))
    if unknown:
        parser.error(f"unknown presets {unknown}; built-in: {names}")
    payload, measured_by = {}, {}
    path = common.results_path("quality", "presets.json")
    if args.presets and os.path.exists(path):
        with open(path) as f:
            recorded = json.load(f)
        payload = {n: f for n, f in recorded["presets"].items() if n in names}
        measured_by = {n: recorded.get("measured_by", {}).get(n, recorded["command"])
                       for n in payload}
    command = "python benchmarks/quality/presets.py " + " ".join(argv)
    for name in names:
        if args.presets is None or name in args.presets or name not in payload:
            payload[name] = _measure(name)
            measured_by[name] = command
    rows = [_row(name, payload[name]) for name in names]
    common.write_results(
        "presets", {"presets": payload, "measured_by": measured_by},
        rows, ["preset", "class", "parameters", "measured (metadata.json)", "size on disk",
               "cold load (import + load)", "warm load", "SavedModel", "int8 / float32 TFLite",
               "int8 mean abs error"],
        command=command, group="quality")
    return 0


if __name__ == "__main__":
    sys.exit(main())
