"""int8 TFLite samplers of the built-in presets against their budget.

For each preset, writes float32 / float16 / dynamic-range / int8 TFLite samplers with one
`export.tflite_variants` call (int8: full integer where the mean error budget holds, else
the per-op plan `export.quantize` searches for), then measures all four files in the same
run with `export.report.build_report`: size, max and mean absolute error against Keras on
1,000 noise vectors (seed 0), and p50 latency at batch 1 on one thread. Latency is timed
in `--rounds` rounds, the file order reversed every other round; the table gives the
median of the rounds' p50.

The int8 sampler's budget:
  - mean absolute error against Keras <= 0.01 on the 1,000 noise vectors;
  - sample quality: the Fréchet distance between N int8 samples (noise A) and N Keras
    samples (noise B) at most 1.1x the one between N Keras samples on noise A and the
    same Keras set on B, i.e. between two independent Keras sample sets (N =
    `--num-fd-samples`, 10,000), in the features of the zoo's classifier for the preset's
    dataset. Both distances share the Keras set on B, and the compared sets share noise
    A, so the ratio isolates what quantization changes. The ratio of one such draw moves
    by several tenths from one pair of noise sets to the next for some presets, so it is
    measured on `--fd-draws` independent pairs (3) and judged on their median; every
    draw's ratio is in the table;
  - file size <= 0.5x the float32 file;
  - p50 latency at batch 1 not above the float32 file's.

The exporter itself only sees the mean error. When the median FD ratio is over its limit
although the mean error is within 0.01 (a small but systematic error), the int8 file is
exported again with a tighter `budget=` (0.005, then 0.0025) until the ratio holds; the
table names the budget used.

A conversion that the exporter refuses (`export.lite.ConversionError`) is recorded with
its message; a refused int8 file is measured anyway (the file travels with the error)
and fails the budget.

    python benchmarks/quality/int8_presets.py
    python benchmarks/quality/int8_presets.py --presets vae_mnist --num-fd-samples 2000
    python benchmarks/quality/int8_presets.py --edge-dir edge/vaezoo_edge/presets

`--edge-dir DIR` copies each preset's int8 file (when the exporter accepted it) to
`DIR/<preset>.tflite`, atomically, and writes that file's size, mean error and plan into
the preset's metadata.json and model card (`card_metrics`): the int8 sampler users get.

Writes benchmarks/results/quality/int8_presets.json and .md.
"""

import argparse
import math
import os
import re
import shutil
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # benchmarks/, for common

import common
import numpy as np

import export
import zoo
from export import quantize, report
from export.edge import EdgeSampler
from export.lite import ConversionError
from zoo import presets
from zoo.evaluation import frechet

BUDGET = {"mean_abs_error": quantize.MEAN_ERROR_BUDGET, "fd_ratio": 1.1, "size_ratio": 0.5,
          "p50_ratio_b1": 1.0}
#: Seed of the noise of the first FD draw's sets A (int8 and Keras) and B (the Keras
#: reference); draw d uses FD_SEED + 2d and FD_SEED + 2d + 1.
FD_SEED = 1000
QUANTIZATIONS = ("float32", "float16", "dynamic", "int8")


def _export(model, directory):
    """Writes the four files. Returns ({quantization: path of the file measured},
    {quantization: refusal message}). A refused int8 file is written from the error's
    flatbuffer and measured; the other quantizations after a refusal are still tried."""
    paths = {q: os.path.join(directory, f"{q}.tflite") for q in QUANTIZATIONS}
    remaining, refused, refused_int8 = dict(paths), {}, None
    while remaining:
        try:
            export.tflite_variants(model, remaining)
            remaining = {}
        except ConversionError as err:
            # tflite_variants writes in order and stops at the first refusal.
            failed = next(q for q, p in remaining.items() if not os.path.exists(p))
            refused[failed] = str(err)
            print(f"{failed} refused: {err}", flush=True)
            if failed == "int8" and err.flatbuffer is not None:
                refused_int8 = err
            keys = list(remaining)
            remaining = {q: remaining[q] for q in keys[keys.index(failed) + 1:]}
    if refused_int8 is not None:
        with open(paths["int8"], "wb") as f:
            f.write(refused_int8.flatbuffer)
    return {q: p for q, p in paths.items() if os.path.exists(p)}, refused, refused_int8


def _measure(model, paths, rounds, repeats):
    """build_report rows per quantization: sizes and errors of the first round, and the
    median of the rounds' p50 at batch 1 (each round times all files, order alternating)."""
    order = list(paths)
    by_round = []
    for r in range(rounds):
        files = order if r % 2 == 0 else order[::-1]
        rows = report.build_report(model, tflite_paths=[paths[q] for q in files],
                                   num_vectors=1000, batch_sizes=(1,), num_threads=1,
                                   repeats=repeats)
        by_round.append(dict(zip(files, rows)))
    figures = {}
    for q in order:
        first = by_round[0][q]
        figures[q] = {"size_bytes": first["size_bytes"], "max_abs_error": first["max_abs_error"],
                      "mean_abs_error": first["mean_abs_error"],
                      "p50_ms_b1_rounds": [rows[q]["p50_ms_b1"] for rows in by_round],
                      "p95_ms_b1_rounds": [rows[q]["p95_ms_b1"] for rows in by_round]}
        figures[q]["p50_ms_b1"] = statistics.median(figures[q]["p50_ms_b1_rounds"])
    return figures


def _keras_samples(model, noise, labels, batch=500):
    return np.concatenate([np.asarray(model.sample_from_noise(
        noise[i:i + batch], labels=None if labels is None else labels[i:i + batch]), np.float32)
        for i in range(0, len(noise), batch)])


def _fd_draw(model, sampler, classifier, num_samples, seeds):
    """One draw: FD(int8 on A, Keras on B), FD(Keras on A, Keras on B), and int8 against
    Keras on the same noise A (what quantization alone moves), in classifier features."""
    noise_a, noise_b = (np.random.default_rng(s).standard_normal((num_samples, model.noise_dim))
                        .astype(np.float32) for s in seeds)
    labels = report.report_labels(model, num_samples)  # a conditional model: every class in turn
    int8_a = np.concatenate([sampler.sample_from_noise(
        noise_a[i:i + 500], None if labels is None else labels[i:i + 500])
        for i in range(0, num_samples, 500)])
    features = {name: frechet.classifier_features(classifier, images) for name, images in
                (("int8_a", int8_a), ("keras_a", _keras_samples(model, noise_a, labels)),
                 ("keras_b", _keras_samples(model, noise_b, labels)))}
    fd_int8 = frechet.frechet_distance(features["int8_a"], features["keras_b"])
    fd_keras = frechet.frechet_distance(features["keras_a"], features["keras_b"])
    return {"noise_seeds": list(seeds), "fd_int8_vs_keras": fd_int8,
            "fd_keras_vs_keras": fd_keras, "fd_ratio": fd_int8 / fd_keras,
            "fd_int8_vs_keras_same_noise": frechet.frechet_distance(features["int8_a"],
                                                                    features["keras_a"])}


def _fd(model, int8_path, dataset, num_samples, draws):
    """`draws` independent FD draws; the budget reads the median of their ratios."""
    sampler, classifier = EdgeSampler(int8_path), frechet.load_classifier(dataset)
    runs = [_fd_draw(model, sampler, classifier, num_samples, (FD_SEED + 2 * d, FD_SEED + 2 * d + 1))
            for d in range(draws)]
    print("FD ratios", [round(r["fd_ratio"], 3) for r in runs], flush=True)
    return {"num_samples": num_samples, "classifier": dataset, "draws": runs,
            "fd_ratio": statistics.median(r["fd_ratio"] for r in runs)}


def _scope_label(scope):
    """A readable name for a plan scope (see export.quantize.scope_of)."""
    if scope == ".*":
        return "all weight layers"
    if scope == quantize.scope_of(quantize.TOP_LEVEL):
        return "top-level ops"
    match = re.fullmatch(r"\^(.*)/", scope)
    if not match:
        return f"`{scope}`"
    group = re.sub(r"\\(.)", r"\1", match.group(1))
    if group.startswith("chain_of"):
        return "flow bijector chain"
    return "/".join(re.sub(r"_1$", "", part) for part in group.split("/"))


def plan_summary(plan):
    """"full int8", or "<scope>: <mode>; ..." for the metadata's plan."""
    if not plan:
        return "full int8"
    return "; ".join(f"{_scope_label(p['scope'])}: {p['mode']}" for p in plan)


def _int8_facts(path, refusal):
    """Plan, plans tried and full-int8 error before the search, from the file's metadata
    (or, for a refused file, from the error's search history)."""
    meta = EdgeSampler(path).metadata
    search = meta.get("plan_search") or {}
    facts = {"plan": meta.get("plan"), "plan_search": search, "parity": meta.get("parity"),
             "plans_tried": search.get("plans_tried"),
             "full_int8_mean_abs_error": search.get("full_int8_mean_abs_error"),
             "full_int8_failed": search.get("full_int8_failed")}
    if refusal is not None and refusal.check and "history" in refusal.check:
        history = refusal.check["history"]
        facts["plans_tried"] = len(history)
        facts["full_int8_mean_abs_error"] = history[0]["mean_abs_error"]
        facts["full_int8_failed"] = history[0].get("failed")
        # A plan that could not be quantized or run has no error (None): never the best.
        best = min(history, key=lambda h: math.inf if h["mean_abs_error"] is None
                   else h["mean_abs_error"])
        facts["plan"] = [{"scope": s, "mode": m} for s, m in best["plan"]]
    return facts


def _verdict(figures, fd):
    f32, i8 = figures["float32"], figures["int8"]
    measured = {"mean_abs_error": i8["mean_abs_error"],
                "fd_ratio": fd["fd_ratio"] if fd else None,
                "size_ratio": i8["size_bytes"] / f32["size_bytes"],
                "p50_ratio_b1": i8["p50_ms_b1"] / f32["p50_ms_b1"]}
    met = {k: v is not None and v <= BUDGET[k] for k, v in measured.items()}
    return measured, met


#: Tighter export budgets tried, in order, when the int8 samples' distribution moves
#: (median FD ratio over the budget) although their mean error is within 0.01.
TIGHTER_BUDGETS = (0.005, 0.0025)


def _measure_preset(name, args):
    model = zoo.from_preset(name)
    dataset = presets.load_metadata(name)["dataset"].split(" ")[0]
    result = {"dataset": dataset, "class_name": type(model).__name__}
    with tempfile.TemporaryDirectory() as tmp:
        paths, refused, refusal = _export(model, tmp)
        result["refused"] = refused
        if "int8" in paths and "float32" in paths:
            # The exporter only sees the mean error; a small error can still be
            # systematic and move the samples' distribution. Export again under a tighter
            # budget until the FD part of the budget holds too.
            result["fd"] = _fd(model, paths["int8"], dataset, args.num_fd_samples, args.fd_draws)
            result["int8_export_budget"] = quantize.MEAN_ERROR_BUDGET
            result["fd_attempts"] = [{"budget": quantize.MEAN_ERROR_BUDGET,
                                      "fd_ratio": result["fd"]["fd_ratio"]}]
            for budget in TIGHTER_BUDGETS:
                if result["fd"]["fd_ratio"] <= BUDGET["fd_ratio"] or "int8" in refused:
                    break
                print(f"FD ratio {result['fd']['fd_ratio']:.3f}: int8 again with budget {budget}",
                      flush=True)
                try:
                    export.tflite(model, paths["int8"], quantization="int8", budget=budget)
                except ConversionError as err:
                    result["fd_attempts"].append({"budget": budget, "refused": str(err)})
                    break
                result["fd"] = _fd(model, paths["int8"], dataset, args.num_fd_samples,
                                   args.fd_draws)
                result["int8_export_budget"] = budget
                result["fd_attempts"].append({"budget": budget, "fd_ratio": result["fd"]["fd_ratio"]})
        result["figures"] = _measure(model, paths, args.rounds, args.repeats)
        if "int8" in paths:
            result["int8"] = _int8_facts(paths["int8"], refusal)
            if "fd" in result:
                result["budget_measured"], result["budget_met"] = _verdict(result["figures"],
                                                                           result["fd"])
                result["budget_met"]["exporter_accepted"] = "int8" not in refused
                result["budget_pass"] = all(result["budget_met"].values())
            if args.edge_dir and "int8" not in refused:
                result["edge_file"] = _copy_atomic(paths["int8"], args.edge_dir, f"{name}.tflite")
                presets.update_metadata(name, metrics=card_metrics(result))
    return result


def card_metrics(result):
    """The shipped int8 sampler's figures for a preset's card, from its `result` entry."""
    int8 = result["figures"]["int8"]
    return {"tflite_int8_kib": round(int8["size_bytes"] / 1024, 1),
            "tflite_int8_mean_abs_error": round(int8["mean_abs_error"], 5),
            "tflite_int8_plan": plan_summary(result["int8"].get("plan"))}


def _copy_atomic(source, directory, filename):
    os.makedirs(directory, exist_ok=True)
    target = os.path.join(directory, filename)
    handle, tmp_path = tempfile.mkstemp(dir=directory, prefix=f".{filename}.", suffix=".tmp")
    os.close(handle)
    umask = os.umask(0)
    os.umask(umask)
    try:
        shutil.copyfile(source, tmp_path)
        os.chmod(tmp_path, 0o666 & ~umask)  # mkstemp makes it 0600; a shipped file is not private
        os.replace(tmp_path, target)
    except BaseException:
        if os.path.exists(tmp_path):
            os.remove(tmp_path)
        raise
    print(f"copied to {target}", flush=True)
    return target


def _cell(text):
    return str(text).replace("|", "\\|").replace("\n", " ")


def _rows(name, result):
    figures, refused = result["figures"], result["refused"]
    f32 = figures.get("float32")
    rows = []
    for q in QUANTIZATIONS:
        if q not in figures:
            rows.append([f"`{name}`", q, *[""] * 10, f"**refused**: {_cell(refused[q])}"])
            continue
        f = figures[q]
        size_ratio = f"{f['size_bytes'] / f32['size_bytes']:.3f}×" if f32 else ""
        speed_ratio = f"{f['p50_ms_b1'] / f32['p50_ms_b1']:.2f}×" if f32 else ""
        row = [f"`{name}`", q, f"{f['size_bytes'] / 1024:,.1f} KiB", size_ratio,
               f"{f['max_abs_error']:.2e}", f"{f['mean_abs_error']:.2e}",
               f"{f['p50_ms_b1']:.3f}", speed_ratio]
        if q != "int8":
            row += ["", "", "", "", f"**refused**: {_cell(refused[q])}" if q in refused else ""]
        else:
            facts, fd = result["int8"], result.get("fd")
            before = facts["full_int8_mean_abs_error"]
            row += [(", ".join(f"{d['fd_ratio']:.3f}" for d in fd["draws"])
                     + (f" (median {fd['fd_ratio']:.3f})" if len(fd["draws"]) > 1 else ""))
                    if fd else "",
                    _cell(plan_summary(facts["plan"]))
                    + (f" (export budget {result['int8_export_budget']})"
                       if result.get("int8_export_budget", quantize.MEAN_ERROR_BUDGET)
                       != quantize.MEAN_ERROR_BUDGET else ""),
                    facts["plans_tried"] if facts["plans_tried"] is not None else "",
                    f"{before:.4f}" if before is not None
                    else "could not run" if facts.get("full_int8_failed") else ""]
            if "budget_met" in result:
                failed = [k for k, ok in result["budget_met"].items() if not ok]
                verdict = "pass" if not failed else "**fail**: " + ", ".join(failed)
            else:
                verdict = "**fail**: not measured"
            if "int8" in refused:
                verdict += f" (refused: {_cell(refused['int8'])})"
            row.append(verdict)
        rows.append(row)
    return rows


HEADER = ["preset", "quantization", "size", "size / float32", "max abs err", "mean abs err",
          "p50 ms b=1", "p50 / float32", "FD ratio per draw (int8 vs Keras / Keras vs Keras)",
          "int8 plan", "plans tried", "full int8 mean err (before search)", "budget"]


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=None, metavar="NAME",
                        help="presets to measure (default: all built-in)")
    parser.add_argument("--num-fd-samples", type=int, default=10_000,
                        help="samples per set for the Fréchet distances (default 10,000)")
    parser.add_argument("--fd-draws", type=int, default=3,
                        help="independent pairs of sample sets for the FD ratio; the budget "
                             "reads their median (default 3)")
    parser.add_argument("--repeats", type=int, default=300,
                        help="timed calls per file and round (default 300)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="timing rounds, file order alternating (default 3)")
    parser.add_argument("--edge-dir", default=None, metavar="DIR",
                        help="copy each accepted int8 file to DIR/<preset>.tflite")
    args = parser.parse_args(argv)
    names = zoo.list_presets()
    unknown = sorted(set(args.presets or ()) - set(names))
    if unknown:
        parser.error(f"unknown presets {unknown}; built-in: {names}")
    if args.num_fd_samples < 2:
        parser.error("--num-fd-samples must be at least 2")
    if args.fd_draws < 1:
        parser.error("--fd-draws must be at least 1")
    command = "python benchmarks/quality/int8_presets.py " + " ".join(argv)
    # A run over some presets updates their entries and keeps the others' (each entry
    # names the command that measured it).
    results = common.previous_entries("quality", "int8_presets", "results", names) \
        if args.presets else {}
    for name in (args.presets or names):
        print(f"== {name}", flush=True)
        results[name] = {"command": command, **_measure_preset(name, args)}
        print(name, {k: results[name].get(k) for k in ("budget_measured", "budget_met")},
              flush=True)
    rows = [row for name in results for row in _rows(name, results[name])]
    common.write_results("int8_presets", {
        "budget": BUDGET, "results": results,
        "protocol": "export.tflite_variants (float32, float16, dynamic, int8); "
                    "export.report.build_report on 1,000 N(0, I) noise vectors (seed 0), "
                    f"batch 1, 1 thread, {args.repeats} timed calls after 10 warm-up calls, "
                    f"{args.rounds} rounds (file order reversed every other round), median p50; "
                    f"FD ratio: FD({args.num_fd_samples} int8 samples on noise A, "
                    f"{args.num_fd_samples} Keras samples on noise B) / FD(Keras on A, the same "
                    "Keras set on B), in the zoo's classifier features for the preset's "
                    f"dataset, over {args.fd_draws} draws (seeds of A, B: {FD_SEED} + 2d, "
                    f"{FD_SEED} + 2d + 1), budget on the median",
    }, rows, HEADER, command, group="quality")
    failed = [n for n, r in results.items() if not r.get("budget_pass")]
    print("int8 budget failed for: " + (", ".join(failed) if failed else "none"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
