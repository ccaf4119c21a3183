"""Export the decoder as a sampler (noise in, samples out): a SavedModel laid out for TF
Serving and/or a .tflite file for EdgeSampler. --report measures each target against the
Keras model.
"""

import os

import export
from zoo.cli import common

NAME = "export"
HELP = "export a model's sampler to SavedModel and/or TFLite"


def add_arguments(p):
    common.add_model_arg(p)
    p.add_argument("--saved-model", default=None, metavar="DIR",
                   help="TF Serving model directory; the export goes to DIR/<version>")
    p.add_argument("--version", type=int, default=1, help="SavedModel version (default: 1)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing version")
    p.add_argument("--tflite", default=None, metavar="FILE",
                   help=".tflite file to write; with several quantizations, FILE may hold "
                        "{quantization}, else each file is FILE with _<quantization> before "
                        "the extension")
    p.add_argument("--quantization", default=["float32"], nargs="+", choices=export.QUANTIZATIONS,
                   help="TFLite quantization, one or more, converted from one traced graph "
                        "(default: float32)")
    p.add_argument("--int8-io", action="store_true", help="int8 inputs and outputs (with int8)")
    p.add_argument("--int8-budget", type=float, default=None, metavar="ERROR",
                   help="int8: largest mean abs error against Keras on 1,000 noise vectors "
                        "(default 0.01); a tighter one keeps more ops in dynamic or float mode")
    p.add_argument("--batch-size", type=int, default=None, metavar="N",
                   help="TFLite: a fixed batch of N for runtimes that refuse a dynamic one "
                        "(LiteRT.js in a browser); EdgeSampler still takes any number of rows")
    p.add_argument("--report", action="store_true",
                   help="print size, error vs Keras on 1,000 noise vectors and 1-thread latency")
    p.add_argument("--report-json", default=None, metavar="FILE", help="also write the report as JSON")


def tflite_files(path, quantizations):
    """{quantization: file} for `vaezoo export --tflite PATH --quantization Q [Q ...]`."""
    quantizations = list(dict.fromkeys(quantizations))  # a repeated mode is one file
    if "{quantization}" in path:
        return {q: path.replace("{quantization}", q) for q in quantizations}
    if len(quantizations) == 1:
        return {quantizations[0]: path}
    stem, ext = os.path.splitext(path)
    return {q: f"{stem}_{q}{ext or '.tflite'}" for q in quantizations}


def run(args):
    import zoo
    from export import report
    from export.edge import EdgeSampler
    from zoo import io_utils

    if not args.saved_model and not args.tflite:
        raise ValueError("Nothing to export: give --saved-model DIR and/or --tflite FILE.")
    model = zoo.load_model(args.model)
    version_dir = None
    if args.saved_model:
        version_dir = export.saved_model(model, args.saved_model, version=args.version,
                                         overwrite=args.overwrite)
        print(f"SavedModel written to {version_dir}")
    tflite_paths = {}
    if args.tflite:
        tflite_paths = export.tflite_variants(model, tflite_files(args.tflite, args.quantization),
                                              int8_io=args.int8_io, budget=args.int8_budget,
                                              batch_size=args.batch_size)
        for quantization, path in tflite_paths.items():
            print(f"TFLite ({quantization}) written to {path}")
            plan = EdgeSampler(path).metadata.get("plan")
            if plan is not None:  # int8: what stayed out of full int8, and why
                search = EdgeSampler(path).metadata["plan_search"]
                kept = ", ".join(f"{p['scope']} {p['mode']}" for p in plan) or "none (full int8)"
                print(f"  int8 plan: {kept}; mean abs error {search['mean_abs_error']:.4f} "
                      f"(budget {search['budget']})")
    if args.report or args.report_json:
        rows = report.build_report(model, saved_model_dir=version_dir,
                                   tflite_paths=list(tflite_paths.values()))
        print(report.format_report(rows))
        if args.report_json:
            io_utils.write_json(args.report_json, rows)
    return 0
