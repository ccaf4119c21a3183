"""Helpers shared by the benchmark scripts: environment facts and result files.

The scripts live in benchmarks/<group>/ (recipes, quality, speed, experiments) and import
this module after putting benchmarks/ on sys.path; their results go to
benchmarks/results/<group>/.
"""

import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results")
GROUPS = ("recipes", "quality", "speed", "experiments")
sys.path.insert(0, os.path.dirname(HERE))  # run from a checkout without installing


def results_path(group, filename):
    """benchmarks/results/<group>/<filename>, where the scripts of benchmarks/<group>/ write."""
    if group not in GROUPS:
        raise ValueError(f"group must be one of {GROUPS}. Received: {group!r}")
    return os.path.join(RESULTS, group, filename)


def previous_entries(group, name, field, keep):
    """The entries under `field` of the last `<group>/<name>.json` whose keys are in `keep`,
    each with the command that measured it: what a script run over some presets keeps of
    the others (none when there is no previous file)."""
    path = results_path(group, f"{name}.json")
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        previous = json.load(f)
    return {k: {"command": previous.get("command", ""), **entry}
            for k, entry in previous.get(field, {}).items() if k in keep}


def environment():
    """Versions and machine facts recorded with every result."""
    import keras
    import tensorflow as tf
    import tensorflow_probability as tfp

    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "tensorflow_probability": tfp.__version__,
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
    }


def write_results(name, payload, table_rows, header, command, *, group):
    """Writes `results/<group>/<name>.json` and `results/<group>/<name>.md` (a markdown
    table) atomically."""
    from zoo import io_utils

    payload = {"benchmark": name, "command": command, "environment": environment(), **payload}
    io_utils.write_json(results_path(group, f"{name}.json"), payload)
    lines = [f"<!-- written by: {command} -->",
             "| " + " | ".join(header) + " |",
             "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in table_rows]
    io_utils.write_text(results_path(group, f"{name}.md"), "\n".join(lines) + "\n")
    print("\n".join(lines[1:]))
    return payload


def cosine_optimizer(optimizer, initial_rate, epochs, steps_per_epoch, **kwargs):
    """A Keras optimizer (by class name) whose rate decays by a cosine from `initial_rate`
    to 1 % of it over `epochs`, the recipes' schedule; `kwargs` go to the optimizer."""
    import keras

    schedule = keras.optimizers.schedules.CosineDecay(
        initial_rate, decay_steps=epochs * steps_per_epoch, alpha=0.01)
    return getattr(keras.optimizers, optimizer)(schedule, **kwargs)


def nll_recipe(name, *, model_description, recipe, build_model, build_optimizer, epochs,
               published, argv=None, batch_size=128, callbacks=(), conditional=False,
               datasets=("mnist", "fashion_mnist"), binarize=True, num_samples=1000, limits=None,
               prior_fit=None):
    """Train (resumably) on dynamic MNIST, evaluate the test NLL, write results and preset.

    The shared protocol of the likelihood benchmarks: the 60,000 training images
    dynamically binarized, no early stopping and no test-set use during training; the
    10,000 test images binarized once (static, seed 0); NLL by the importance-weighted
    bound with k samples. `--eval-only -k 5000` re-evaluates the trained model and adds
    that row. Writes results/recipes/<name>.json and .md, and the built-in preset
    zoo/presets/<name>. The script is benchmarks/recipes/<name>.py.

    `--train-only` stops after training and writes the preset unevaluated (its card says
    "Nothing measured yet"): a run whose training and evaluation do not fit one sitting
    carries the preset to wherever `--eval-only` runs later, which evaluates the preset
    when the run directory is not there and fills in its metrics.

    With `conditional`, `build_model(dataset)` makes a model of p(x | y) for the named
    dataset (its class count and names), trained and evaluated on (x, label) batches:
    the figures are of log p(x | y).

    `datasets` are the `--dataset` choices, the first the default (whose name is in the
    recipe's `name`: `vae_mnist` -> `vae_fashion_mnist`). With `binarize=False` the images
    keep their 8 bits (colour), and the table adds bits/dim; `num_samples` is the default k.
    `limits` replaces the model card's default limits (say what the figures may not be
    compared with).

    `prior_fit` (keyword arguments of `zoo.fit_flow_prior`) adds a second stage: after
    training, a flow prior is fitted to the trained model's aggregate posterior (saved to
    `<output dir>/model_fitted_prior.keras`, reused when re-run), and both the trained
    model and the fitted one are evaluated; the preset is the fitted one.
    """
    import argparse

    import keras

    import zoo
    from zoo import evaluation, io_utils, training

    parser = argparse.ArgumentParser(description=f"Recipe and NLL benchmark: {name}")
    parser.add_argument("--epochs", type=int, default=epochs)
    parser.add_argument("--num-samples", "-k", type=int, default=num_samples)
    parser.add_argument("--eval-only", action="store_true", help="evaluate the trained model")
    parser.add_argument("--train-only", action="store_true",
                        help="train and write the preset without evaluating it")
    parser.add_argument("--dataset", default=datasets[0], choices=list(datasets),
                        help=f"{datasets[0]} (the benchmark)" + (
                            "" if len(datasets) < 2 else
                            f" or {', '.join(datasets[1:])} (the same recipe, for the preset "
                            "of that dataset)"))
    parser.add_argument("--output-dir", default=None, help="default: runs/<preset name>")
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args(argv)
    if args.eval_only and args.train_only:
        parser.error("--eval-only and --train-only exclude each other")
    if args.train_only and prior_fit:
        parser.error("--train-only: this recipe's preset is the model after its prior fit, "
                     "which the evaluation stage makes")
    script = name
    command = f"python benchmarks/recipes/{script}.py " + " ".join(argv if argv is not None else sys.argv[1:])
    if args.dataset != datasets[0]:
        name = name.replace(f"_{datasets[0]}", f"_{args.dataset}")
        published = []  # the published figures are for the benchmark's dataset
    args.output_dir = args.output_dir or os.path.join("runs", name)
    preset = os.path.join(os.path.dirname(HERE), "zoo", "presets", name)

    model_path = os.path.join(args.output_dir, training.MODEL_FILE)
    summary_path = os.path.join(args.output_dir, training.SUMMARY_FILE)
    run = None
    if args.eval_only and not os.path.exists(model_path) and os.path.exists(preset):
        # The run directory is gone (another machine): the preset holds the same weights,
        # and its metadata the training facts.
        from zoo import presets

        print(f"{model_path} not found: evaluating the preset {preset}", flush=True)
        model = zoo.from_preset(preset)
        meta = presets.load_metadata(preset)
        run = {"epochs_completed": meta["epochs"], "train_seconds": meta["train_seconds"]}
    elif args.eval_only:
        model = keras.saving.load_model(model_path)
    else:
        # Initial weights (the model's seed covers its noise); set before tf.data, whose
        # seeded ops combine with it, as `vaezoo train --seed` does.
        keras.utils.set_random_seed(0)
        train = zoo.data.load(args.dataset, "train", data_dir=args.data_dir, batch_size=batch_size,
                              binarize="dynamic" if binarize else None, seed=0,
                              with_labels=conditional)
        model = training.train(build_model(args.dataset) if conditional else build_model(), train, epochs=args.epochs,
                               output_dir=args.output_dir, optimizer=build_optimizer(args.epochs),
                               verbose=2, callbacks=list(callbacks))
    if run is None:
        with open(summary_path) as f:
            run = json.load(f)
    # The command that reproduces the weights: the epoch count is part of it when it is not
    # the recipe's default (the cosine schedule's length depends on it).
    train_command = f"python benchmarks/recipes/{script}.py --dataset {args.dataset}"
    if run["epochs_completed"] != epochs:
        train_command += f" --epochs {run['epochs_completed']}"

    def preset_metadata(model, metrics):
        metadata = {"dataset": f"{args.dataset} (dynamically binarized)" if binarize
                    else f"{args.dataset} (8-bit levels, not binarized)",
                    "recipe": train_command,
                    "epochs": run["epochs_completed"], "train_seconds": run["train_seconds"],
                    "metrics": metrics}
        if limits:
            metadata["limits"] = limits
        if prior_fit and isinstance(model, zoo.FlowPriorVAE):  # settings read from the model
            flow = model.prior_flow
            metadata["prior_fit_note"] = (
                f"two stages. The recipe trains the model with a N(0, I) prior, then fits a "
                f"{flow.flow} flow prior ({flow.num_flows} steps) to its aggregate posterior, "
                f"the encoder and decoder fixed (`zoo.fit_flow_prior` with {prior_fit}): "
                f"samples come from the fitted prior. The `_before_prior_fit` metrics are the "
                f"first stage's.")
        if run["epochs_completed"] < epochs:
            metadata["limits"] = short_schedule_limits(run["epochs_completed"], epochs, limits)
        return metadata

    if args.train_only:
        model.save_to_preset(preset, metadata=preset_metadata(model, {}), overwrite=True)
        print(f"unevaluated preset written to {preset}; evaluate it with --eval-only")
        return None
    test = zoo.data.load(args.dataset, "test", data_dir=args.data_dir, batch_size=500,
                         binarize="static" if binarize else None, seed=0,
                         with_labels=conditional)

    def evaluate(model, tag=""):
        print(f"evaluating{tag.replace('_', ' ')} on 10,000 test images with k={args.num_samples}",
              flush=True)
        # Resumable: a k=5000 run takes hours here; started again, it skips the batches
        # done (the progress file is tied to the weights, so each stage has its own).
        figures = zoo.evaluate(model, test, num_samples=args.num_samples, seed=0, log_every=4,
                               progress_path=os.path.join(args.output_dir,
                                                          f"eval_k{args.num_samples}{tag}.npz"))
        print(evaluation.summarize(figures), flush=True)
        return figures

    stages = {}  # evaluation key suffix -> figures, of the models before the final one
    prior_fit_seconds = None  # encoding the training images and fitting (not known for older runs)
    if prior_fit and not isinstance(model, zoo.FlowPriorVAE):  # not yet fitted (a preset is)
        stages["_before_prior_fit"] = evaluate(model, "_before_prior_fit")
        fitted_path = os.path.join(args.output_dir, "model_fitted_prior.keras")
        seconds_path = os.path.join(args.output_dir, "prior_fit.json")
        if os.path.exists(fitted_path):
            model = keras.saving.load_model(fitted_path)
        else:
            print(f"fitting a flow prior to the aggregate posterior: {prior_fit}", flush=True)
            start = time.time()
            images = zoo.data.load(args.dataset, "train", data_dir=args.data_dir, batch_size=500,
                                   binarize="dynamic" if binarize else None, seed=0)
            model = zoo.fit_flow_prior(model, images, **prior_fit, verbose=1)
            io_utils.write_json(seconds_path, {"prior_fit_seconds": round(time.time() - start, 1)})
            training.save_model(model, fitted_path)
        if os.path.exists(seconds_path):
            with open(seconds_path) as f:
                prior_fit_seconds = json.load(f)["prior_fit_seconds"]
    figures = evaluate(model)

    path = results_path("recipes", f"{name}.json")
    previous = {}
    if os.path.exists(path):
        with open(path) as f:
            previous = json.load(f)
    evaluations = dict(previous.get("evaluations", {}))
    evaluations[f"k{args.num_samples}"] = {**figures, "command": command}
    for suffix, stage_figures in stages.items():
        evaluations[f"k{args.num_samples}{suffix}"] = {**stage_figures, "command": command}
    payload = {
        "model": model_description,
        "config": model.get_config(),
        "parameters": model.count_params(),
        "recipe": {**recipe, "epochs": run["epochs_completed"], "batch_size": batch_size,
                   "binarization": "dynamic (train), static seed 0 (test)" if binarize
                   else "none (8-bit levels)",
                   "train_command": train_command},
        "train_seconds": run["train_seconds"],
        **({"prior_fit_seconds": prior_fit_seconds} if prior_fit_seconds is not None else {}),
        "evaluations": evaluations,
        "published": dict(published),
    }
    rows = []
    for key in sorted(evaluations, key=lambda k: (int(k[1:].split("_")[0]), k)):
        e = evaluations[key]
        bits = [] if binarize else [f"**{e['bits_per_dim']:.3f}**"]
        stage = ", before the prior fit (N(0, I) prior)" if key.endswith("_before_prior_fit") else ""
        rows.append([f"{model_description} (this repo){stage}, k={e['num_samples']}", *bits,
                     f"**{e['nll']:.2f}** ± {e['nll_stderr']:.2f}", f"{e['elbo']:.2f}",
                     e["active_units"],
                     f"{run['train_seconds'] / 3600:.1f} h, {run['epochs_completed']} epochs"])
    rows += [[label, *([] if binarize else [""]), f"{nll:.2f}", "", "", ""]
             for label, nll in published]
    data = f"dynamic {args.dataset}" if binarize else f"{args.dataset}, 8-bit"
    write_results(name, payload, rows, [f"model ({data})", *([] if binarize else ["test bits/dim"]),
                                        "test NLL (nats)", "test ELBO", "active units",
                                        "training (2-core CPU)"], command, group="recipes")

    metric = {f"test_nll_k{args.num_samples}": round(figures["nll"], 2)}
    if not binarize:
        metric[f"test_bits_per_dim_k{args.num_samples}"] = round(figures["bits_per_dim"], 4)
    for suffix, stage_figures in stages.items():  # the card says what the prior fit gained
        metric[f"test_nll_k{args.num_samples}{suffix}"] = round(stage_figures["nll"], 2)
        if not binarize:
            metric[f"test_bits_per_dim_k{args.num_samples}{suffix}"] = round(
                stage_figures["bits_per_dim"], 4)
    if not args.eval_only or not os.path.exists(preset):
        metadata = preset_metadata(model, {**metric, "test_elbo": round(figures["elbo"], 2)})
        model.save_to_preset(preset, metadata=metadata, overwrite=True)
        print(f"preset written to {preset}")
    else:
        from zoo import presets

        if "test_elbo" not in presets.load_metadata(preset).get("metrics", {}):
            metric["test_elbo"] = round(figures["elbo"], 2)  # a preset saved before its evaluation
        presets.update_metadata(preset, metrics=metric)
    return figures


def short_schedule_limits(epochs_run, recipe_epochs, limits=None):
    """The model card's limits for a preset trained on a shorter schedule than its recipe's
    default (the whole cosine decay, compressed into fewer epochs): users should not read
    its figures as what the family reaches. The card's usual limits (or `limits`) follow."""
    from zoo import presets

    return (f"Trained for {epochs_run} epochs, not the recipe's {recipe_epochs}, to fit a "
            "2-core CPU: expect a weaker model than the full recipe would give (not "
            f"measured), and do not compare families on it. {limits or presets.DEFAULT_LIMITS}")


def dataset_and_preset(doc, argv, parser=None):
    """`--dataset` and `--preset` of an application benchmark: (argv, dataset, preset
    name, model, results name). The preset defaults to `vae_<dataset>`, whose figures go
    to `<benchmark>_<dataset>`; another preset's go to `<benchmark>_<preset>`.

    A benchmark with options of its own passes an `argparse.ArgumentParser` holding them
    and reads them back from `parser.parsed`."""
    import argparse

    import zoo

    argv = sys.argv[1:] if argv is None else argv
    parser = parser or argparse.ArgumentParser()
    parser.description = doc.splitlines()[0]
    parser.add_argument("--dataset", default="mnist", choices=["mnist", "fashion_mnist"])
    parser.add_argument("--preset", default=None,
                        help="a preset of any family trained on --dataset (default: vae_<dataset>)")
    args = parser.parsed = parser.parse_args(argv)
    preset = args.preset or f"vae_{args.dataset}"
    trained_on = zoo.presets.load_metadata(preset).get("dataset", "")
    if trained_on.split(" ")[0] != args.dataset:
        parser.error(f"preset {preset!r} was trained on {trained_on!r}, not --dataset {args.dataset}")
    suffix = args.dataset if args.preset is None else preset
    return argv, args.dataset, preset, zoo.from_preset(preset), suffix


def child_seconds(code):
    """Runs `code` in a fresh Python (no warm TensorFlow caches); returns the number it
    prints on its `SECONDS <float>` line."""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    (line,) = [line for line in out.stdout.splitlines() if line.startswith("SECONDS")]
    return float(line.split()[1])


def paired_figures(cases, measure, modes, repeats):
    """`measure(case, mode)` for each case and both `modes`, `repeats` times, alternating
    which mode goes first (these machines are noisy; a pair run back to back shares the
    noise). Each case's figures are printed as soon as they are measured.

    Returns {case: {"seconds": {mode: [seconds]}, "median_ratio": median of the per-pair
    ratios modes[0] / modes[1]}}."""
    figures = {}
    for case in cases:
        seconds = {mode: [] for mode in modes}
        for r in range(repeats):
            for mode in (modes if r % 2 == 0 else modes[::-1]):
                seconds[mode].append(measure(case, mode))
        ratios = [a / b for a, b in zip(seconds[modes[0]], seconds[modes[1]])]
        figures[case] = {"seconds": seconds, "median_ratio": statistics.median(ratios)}
        print(case, json.dumps(figures[case]), flush=True)
    return figures
