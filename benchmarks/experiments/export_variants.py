"""Several TFLite quantizations of one model: one export each against `export.tflite_variants`.

`export.tflite` traces the model's sampler graphs and saves them as a SavedModel before
each conversion; `export.tflite_variants` does that once and converts the same SavedModel
to every quantization asked for (the files are byte for byte the ones `export.tflite`
writes; `tests/export/test_lite.py` checks it). This script times both ways on built-in
presets, each measurement in its own subprocess (a fresh TensorFlow, no warm caches),
alternating which goes first, and reports the median ratio per preset.

    python benchmarks/experiments/export_variants.py --repeats 3
"""

import argparse
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # benchmarks/, for common

import common

# The quantizations each preset's export accepts: the HVAE's int8 decoder is refused by
# the parity check (README, presets table), so it is left out there.
PRESETS = {
    "vae_mnist": ("float32", "float16", "dynamic", "int8"),
    "hvae_mnist": ("float32", "float16", "dynamic"),
}
MODES = ("one export.tflite each", "export.tflite_variants")

CHILD = r"""
import os, sys, tempfile, time
import export
import zoo

model = zoo.from_preset({preset!r})
quantizations = {quantizations!r}
with tempfile.TemporaryDirectory() as tmp:
    paths = {{q: os.path.join(tmp, q + ".tflite") for q in quantizations}}
    start = time.perf_counter()
    if {variants}:
        export.tflite_variants(model, paths)
    else:
        for q, path in paths.items():
            export.tflite(model, path, quantization=q)
    print("SECONDS", time.perf_counter() - start)
"""


def export_seconds(preset, mode):
    code = CHILD.format(preset=preset, quantizations=PRESETS[preset],
                        variants=mode == "export.tflite_variants")
    return common.child_seconds(code)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    figures = {preset: {"quantizations": PRESETS[preset], **f} for preset, f in
               common.paired_figures(PRESETS, export_seconds, MODES, args.repeats).items()}
    rows = [[preset, ", ".join(f["quantizations"]),
             f"{statistics.median(f['seconds'][MODES[0]]):.1f}",
             f"{statistics.median(f['seconds'][MODES[1]]):.1f}", f"{f['median_ratio']:.2f}"]
            for preset, f in figures.items()]
    common.write_results(
        "export_variants", {"repeats": args.repeats, "figures": figures},
        rows, ["preset", "quantizations", "one export.tflite each (s)",
               "export.tflite_variants (s)", "ratio (median of the paired runs)"],
        command="python benchmarks/experiments/export_variants.py " + " ".join(argv), group="experiments")
    return 0


if __name__ == "__main__":
    sys.exit(main())
