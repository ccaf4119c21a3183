"""The `vaezoo` command line: presets, train, eval, sample, export, score, plot, bench, demo, quickstart."""

import argparse
import json
import os
import sys

import export
from zoo import anomaly, plotting

MODELS = ("vae", "hvae", "flow_vae", "vaegan")


def _dims(text):
    try:
        return tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def _add_model_arg(p):
    p.add_argument("model", help="a .keras file, a preset directory or a built-in preset name")


def _add_data_args(p, split, binarize):
    p.add_argument("--dataset", default="mnist",
                   help="TFDS name (mnist, fashion_mnist, ...), IDX folder or .npz file (default: mnist)")
    p.add_argument("--split", default=split, help=f"split or slice, e.g. test[:1000] (default: {split})")
    p.add_argument("--data-dir", default=None,
                   help="folder with local dataset files (default: $VAEZOO_DATA_DIR)")
    p.add_argument("--binarize", default=binarize, choices=["none", "dynamic", "static"],
                   help=f"binarization of pixel intensities (default: {binarize})")
    p.add_argument("--batch-size", type=int, default=128, help="batch size (default: 128)")


def _binarize(args):
    return None if args.binarize == "none" else args.binarize


def _parser():
    parser = argparse.ArgumentParser(
        prog="vaezoo", description="Variational autoencoders: train, evaluate, sample.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sub.add_parser("presets", help="list the built-in pretrained presets",
                   description="List the built-in presets with their headline metric.")

    p = sub.add_parser("train", help="train a model", description=(
        "Train a model with Keras fit. Re-running the same command resumes an interrupted "
        "run from its last completed epoch."))
    p.add_argument("--model", default="vae", choices=MODELS,
                   help="model family: vae, hvae (hierarchical), flow_vae, vaegan (default: vae)")
    _add_data_args(p, "train", "dynamic")
    p.add_argument("--epochs", type=int, default=10, help="epochs (default: 10)")
    p.add_argument("--latent-dim", type=int, default=32, help="latent size (default: 32)")
    p.add_argument("--network", default="mlp", choices=["mlp", "conv"], help="network (default: mlp)")
    p.add_argument("--hidden-dims", type=_dims, default=None,
                   help="encoder widths, e.g. 512,256 (default: per network)")
    p.add_argument("--num-res-blocks", type=int, default=0, help="residual blocks per conv stage")
    p.add_argument("--upsampling", default="nearest", choices=["nearest", "transpose"],
                   help="conv decoder upsampling (default: nearest, i.e. resize + conv)")
    p.add_argument("--activation", default="relu", help="hidden activation (default: relu)")
    p.add_argument("--likelihood", default="bernoulli",
                   choices=["bernoulli", "gaussian", "discretized_logistic"])
    p.add_argument("--beta", type=float, default=1.0, help="KL weight (beta-VAE) (default: 1)")
    p.add_argument("--kl-warmup-steps", type=int, default=0, help="linear KL warm-up steps")
    p.add_argument("--free-bits", type=float, default=0.0, help="free bits per latent unit (nats)")
    p.add_argument("--latent-dims", type=_dims, default=None,
                   help="hvae: latent units/channels per stage, e.g. 4,8 (default: per network)")
    p.add_argument("--groups-per-stage", type=int, default=1, help="hvae: latent groups per stage")
    p.add_argument("--flow", default="realnvp", choices=["realnvp", "maf"], help="flow_vae: prior flow")
    p.add_argument("--num-flows", type=int, default=4, help="flow_vae: flow steps (default: 4)")
    p.add_argument("--gamma", type=float, default=1.0,
                   help="vaegan: weight of reconstruction against realism in the decoder's loss "
                        "(default: 1; the presets' recipe, benchmarks/vaegan.py, uses 0.01)")
    p.add_argument("--pixel-weight", type=float, default=0.0,
                   help="vaegan: weight of the pixel likelihood inside the reconstruction term "
                        "(default: 0, the paper's objective; the presets use 1)")
    p.add_argument("--learning-rate", type=float, default=1e-3, help="Adam learning rate")
    p.add_argument("--gradient-clip-norm", type=float, default=None,
                   help="clip each step's gradients to this global norm (default: no clipping)")
    p.add_argument("--skip-limit", type=int, default=100,
                   help="stop, with the last good weights checkpointed, after this many updates "
                        "in a row were skipped for a NaN/inf loss or gradient (default: 100)")
    p.add_argument("--seed", type=int, default=0, help="seed (default: 0)")
    p.add_argument("--output-dir", required=True, help="run directory (checkpoints, logs, model)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")

    p = sub.add_parser("eval", help="evaluate a model; prints JSON", description=(
        "Evaluate a model on a dataset split and print JSON: ELBO, importance-weighted NLL "
        "with k samples, bits/dim, KL and active units."))
    _add_model_arg(p)
    _add_data_args(p, "test", "static")
    p.add_argument("--num-samples", "-k", type=int, default=1000,
                   help="importance samples for the NLL (default: 1000)")
    p.add_argument("--max-examples", type=int, default=None, help="evaluate only this many examples")
    p.add_argument("--progress-file", default=None,
                   help="an .npz file saved after every batch; run the same command again after "
                        "an interruption and it resumes where it stopped (long k=5000 runs)")
    p.add_argument("--fd", action="store_true",
                   help="also the Fréchet distance of 10,000 samples to the split's grey-level "
                        "images, in the dataset's in-repo classifier space (mnist, fashion_mnist)")
    p.add_argument("--fd-samples", type=int, default=10_000, help="samples for --fd (default: 10000)")
    p.add_argument("--nll", action=argparse.BooleanOptionalAction, default=True,
                   help="the likelihood figures (default: on); --fd --no-nll measures only "
                        "sample quality, the figure that matters for a VAE-GAN")
    p.add_argument("--seed", type=int, default=0, help="seed (default: 0)")
    p.add_argument("--output", default=None, help="also write the JSON to this file")

    p = sub.add_parser("sample", help="write a PNG grid of samples",
                       description="Sample from a model and write a PNG grid.")
    _add_model_arg(p)
    p.add_argument("--num-samples", "-n", type=int, default=64, help="images (default: 64)")
    p.add_argument("--seed", type=int, default=0, help="seed (default: 0)")
    p.add_argument("--temperature", type=float, default=1.0, help="noise scale (default: 1)")
    p.add_argument("--output", "-o", default="samples.png", help="PNG path (default: samples.png)")

    p = sub.add_parser("export", help="export a model's sampler to SavedModel and/or TFLite",
                       description=(
                           "Export the decoder as a sampler (noise in, samples out): a SavedModel "
                           "laid out for TF Serving and/or a .tflite file for EdgeSampler. "
                           "--report measures each target against the Keras model."))
    _add_model_arg(p)
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
    p.add_argument("--report", action="store_true",
                   help="print size, error vs Keras on 1,000 noise vectors and 1-thread latency")
    p.add_argument("--report-json", default=None, metavar="FILE", help="also write the report as JSON")

    p = sub.add_parser("score", help="anomaly scores of a dataset split, optionally thresholded",
                       description=(
        "Score every example of a split for anomaly (higher = more anomalous) and write the "
        "scores as CSV (index, score[, flagged]). With --calibrate-split, a threshold is set on "
        "that split of normal data so that at most --target-fpr of it is flagged, and each "
        "scored example is flagged against it. Prints a JSON summary."))
    _add_model_arg(p)
    _add_data_args(p, "test", "static")
    p.add_argument("--score", default=["elbo"], nargs="+", choices=anomaly.SCORES,
                   help="negative ELBO, negative IWAE bound, reconstruction error, (images) "
                        "negative ELBO minus the PNG code length, or the distance to the nearest "
                        "normal examples of --reference-split in latent space (latent_knn) or "
                        "encoder-feature space (feature_knn) (default: elbo). Several scores "
                        "are combined: each standardised on --calibrate-split, then averaged")
    p.add_argument("--reference-split", default=None,
                   help="latent_knn, feature_knn: split of normal data to compare with, "
                        "e.g. train[:50000]")
    p.add_argument("--neighbours", type=int, default=2,
                   help="latent_knn, feature_knn: nearest reference examples averaged "
                        "(default: 2)")
    p.add_argument("--metric", default="euclidean", choices=anomaly.METRICS,
                   help="latent_knn, feature_knn: euclidean, or seuclidean (each dimension "
                        "divided by its standard deviation over --reference-split) "
                        "(default: euclidean)")
    p.add_argument("--num-samples", "-k", type=int, default=None,
                   help="posterior samples (elbo: 1, iwae: 100 by default)")
    p.add_argument("--ensemble", default=[], nargs="+", metavar="MODEL",
                   help="more models (e.g. the same recipe, other seeds) scored like MODEL; "
                        "every model's scores are standardised and averaged (needs "
                        "--calibrate-split)")
    p.add_argument("--calibrate-split", default=None,
                   help="split of normal data that sets the threshold, e.g. train[-5000:]")
    p.add_argument("--target-fpr", type=float, default=0.05,
                   help="share of normal data allowed above the threshold (default: 0.05)")
    p.add_argument("--seed", type=int, default=0, help="seed of the scores (default: 0)")
    p.add_argument("--output", "-o", default="scores.csv", help="CSV file (default: scores.csv)")

    p = sub.add_parser("bench", help="measure training throughput and sampling latency", description=(
        "Measure a model on this machine and print JSON: training throughput of Keras fit "
        "(images/s, from the median step time of short chunks, so stalls do not decide it) "
        "and p50/p95 latency of sample_from_noise at batch 1 and 64. The loaded model is "
        "trained for the measurement but never saved. For the repository's benchmark "
        "tables (NLL, FD, export), see benchmarks/ in the source tree."))
    _add_model_arg(p)
    _add_data_args(p, "train", "dynamic")
    p.add_argument("--steps", type=int, default=100, help="training steps per round (default: 100)")
    p.add_argument("--rounds", type=int, default=3, help="timed rounds (default: 3)")
    p.add_argument("--repeats", type=int, default=100, help="timed sampling calls (default: 100)")
    p.add_argument("--seed", type=int, default=0, help="data seed (default: 0)")
    p.add_argument("--output", default=None, help="also write the JSON to this file")

    p = sub.add_parser("plot", help="PNG plots: samples, reconstructions, interpolations, ...",
                       description=(
                           "Writes PNG plots of a model on a dataset: a grid of samples, "
                           "inputs above their reconstructions, interpolation strips, latent "
                           "traversals, a 2-D map of the latent space coloured by label and "
                           "the KL per latent dimension."))
    _add_model_arg(p)
    p.add_argument("--kinds", nargs="+", default=None, choices=plotting.PLOT_KINDS,
                   help="plots to write (default: all that apply to the model: latent_map "
                        "and kl for non-image data, no kl for a flow prior)")
    _add_data_args(p, "test[:2000]", "static")
    p.add_argument("--output-dir", default="plots", help="(default: plots)")
    p.add_argument("--seed", type=int, default=0, help="seed of samples and examples (default: 0)")

    p = sub.add_parser("demo", help="a built-in preset end to end: samples, export, edge sampling",
                       description=(
                           "Loads a built-in preset (offline), writes a PNG grid of samples, "
                           "measures its test NLL on 1,000 images, exports its decoder to a "
                           "SavedModel and an int8 TFLite file, samples the TFLite file with "
                           "EdgeSampler and prints a table of NLL, sizes and parity error."))
    p.add_argument("--preset", default="vae_mnist", help="preset name or directory (default: vae_mnist)")
    p.add_argument("--dataset", default="mnist", help="test data for the NLL (default: mnist)")
    p.add_argument("--binarize", default="static", choices=["none", "dynamic", "static"],
                   help="binarization of the test images (default: static)")
    p.add_argument("--output-dir", default="demo_output", help="(default: demo_output)")
    p.add_argument("--data-dir", default=None, help="folder with local dataset files")

    p = sub.add_parser("quickstart", help="train a small VAE on MNIST, evaluate it, sample it",
                       description=(
                           "The first thing to run: trains a small VAE on dynamically binarized "
                           "MNIST for a couple of epochs, prints its test ELBO and NLL, and "
                           "writes a PNG grid of samples."))
    p.add_argument("--output-dir", default="quickstart_output", help="(default: quickstart_output)")
    p.add_argument("--epochs", type=int, default=2, help="(default: 2)")
    p.add_argument("--num-samples", "-k", type=int, default=100,
                   help="importance samples for the test NLL (default: 100)")
    p.add_argument("--data-dir", default=None, help="folder with local MNIST files")
    p.add_argument("--test-examples", type=int, default=None,
                   help="evaluate on the first N test images only (default: all 10,000)")
    return parser


def _cmd_presets(args):
    import zoo

    names = zoo.list_presets()
    if not names:
        print("No built-in presets are shipped yet.")
    for name in names:
        meta = zoo.presets.load_metadata(name)
        metrics = meta.get("metrics", {})
        headline = ", ".join(f"{k} {v}" for k, v in metrics.items() if not isinstance(v, dict))
        print(f"{name:28s} {meta.get('class_name', '?'):14s} {headline}")
    return 0


def _cmd_train(args):
    import keras

    import zoo
    from zoo import training

    # The model's `seed` covers its training noise; the initial weights come from Keras'
    # global seed, which tf.data's seeded ops also combine with, so it is set first.
    # Both from --seed: the same command trains the same weights.
    keras.utils.set_random_seed(args.seed)
    train = zoo.data.load(args.dataset, args.split, data_dir=args.data_dir,
                          batch_size=args.batch_size, binarize=_binarize(args), seed=args.seed)
    shared = dict(input_shape=tuple(train.element_spec.shape[1:]), network=args.network,
                  hidden_dims=args.hidden_dims, activation=args.activation,
                  likelihood=args.likelihood, beta=args.beta,
                  kl_warmup_steps=args.kl_warmup_steps, free_bits=args.free_bits, seed=args.seed,
                  gradient_clip_norm=args.gradient_clip_norm)
    if args.model == "hvae":
        model = zoo.HVAE(latent_dims=args.latent_dims, groups_per_stage=args.groups_per_stage,
                         num_res_blocks=max(args.num_res_blocks, 1), **shared)
    else:
        vae_args = dict(latent_dim=args.latent_dim, num_res_blocks=args.num_res_blocks,
                        upsampling=args.upsampling, **shared)
        if args.model == "flow_vae":
            model = zoo.FlowPriorVAE(flow=args.flow, num_flows=args.num_flows, **vae_args)
        elif args.model == "vaegan":  # the decoder's and discriminator's optimizers copy Adam's
            model = zoo.VAEGAN(gamma=args.gamma, pixel_weight=args.pixel_weight, **vae_args)
        else:
            model = zoo.VAE(**vae_args)
    try:  # held-out examples for the TensorBoard plots, when the dataset has a test split
        examples, labels = zoo.data.load_numpy(args.dataset, "test[:500]", data_dir=args.data_dir,
                                               binarize=_binarize(args) and "static", seed=args.seed)
    except ValueError:
        examples, labels = None, None
    model = training.train(model, train, epochs=args.epochs, output_dir=args.output_dir,
                           optimizer=keras.optimizers.Adam(args.learning_rate),
                           verbose=0 if args.quiet else "auto", plot_examples=examples,
                           plot_labels=labels, skip_limit=args.skip_limit)
    print(f"model saved to {os.path.join(args.output_dir, training.MODEL_FILE)}")
    return 0


def _cmd_eval(args):
    import zoo
    from zoo import io_utils

    if not args.nll and not args.fd:
        raise ValueError("Nothing to evaluate: --no-nll needs --fd.")
    model = zoo.load_model(args.model)
    figures = {}
    if args.nll:
        ds = zoo.data.load(args.dataset, args.split, data_dir=args.data_dir,
                           batch_size=args.batch_size, binarize=_binarize(args), shuffle=False,
                           seed=args.seed)
        figures = zoo.evaluate(model, ds, num_samples=args.num_samples, seed=args.seed,
                               max_examples=args.max_examples, progress_path=args.progress_file)
    if args.fd:
        from zoo import fd

        classifier = fd.load_classifier(args.dataset)
        real, _ = zoo.data.load_numpy(args.dataset, args.split, data_dir=args.data_dir)
        figures["fd"] = fd.model_fd(model, real[:args.max_examples], classifier,
                                    num_samples=args.fd_samples, seed=args.seed)
        figures["fd_note"] = "in-repo classifier features; not comparable with Inception FID"
    figures = {"model": args.model, "dataset": args.dataset, "split": args.split,
               # FD compares grey levels; binarization only concerns the likelihood
               **({"binarize": args.binarize} if args.nll else {}), **figures}
    text = json.dumps(figures, indent=2)
    print(text)
    if args.output:
        io_utils.write_text(args.output, text + "\n")
    return 0


def _cmd_sample(args):
    import zoo
    from zoo import plotting

    model = zoo.load_model(args.model)
    images = model.sample(args.num_samples, seed=args.seed, temperature=args.temperature)
    plotting.save_image_grid(images.numpy(), args.output)
    print(f"wrote {args.num_samples} samples to {args.output}")
    return 0


def _tflite_paths(path, quantizations):
    """{quantization: file} for `vaezoo export --tflite PATH --quantization Q [Q ...]`."""
    quantizations = list(dict.fromkeys(quantizations))  # a repeated mode is one file
    if "{quantization}" in path:
        return {q: path.replace("{quantization}", q) for q in quantizations}
    if len(quantizations) == 1:
        return {quantizations[0]: path}
    stem, ext = os.path.splitext(path)
    return {q: f"{stem}_{q}{ext or '.tflite'}" for q in quantizations}


def _cmd_export(args):
    import zoo
    from export import report
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
        tflite_paths = export.tflite_variants(model, _tflite_paths(args.tflite, args.quantization),
                                              int8_io=args.int8_io)
        for quantization, path in tflite_paths.items():
            print(f"TFLite ({quantization}) written to {path}")
    if args.report or args.report_json:
        rows = report.build_report(model, saved_model_dir=version_dir,
                                   tflite_paths=list(tflite_paths.values()))
        print(report.format_report(rows))
        if args.report_json:
            io_utils.write_json(args.report_json, rows)
    return 0


def _cmd_demo(args):
    import numpy as np

    import zoo
    from export.edge import EdgeSampler
    from zoo import io_utils, plotting

    os.makedirs(args.output_dir, exist_ok=True)
    model = zoo.from_preset(args.preset)
    meta = zoo.presets.load_metadata(args.preset)
    print(f"1/4 loaded preset {args.preset}: {type(model).__name__}, "
          f"{model.count_params():,} parameters")
    grid = os.path.join(args.output_dir, "samples.png")
    plotting.save_image_grid(np.asarray(model.sample(64, seed=0)), grid, num_cols=8)
    test = zoo.data.load(args.dataset, "test[:1000]", data_dir=args.data_dir, batch_size=500,
                         binarize=_binarize(args), shuffle=False)
    nll = zoo.evaluate(model, test, num_samples=100)["nll"]
    print(f"2/4 wrote 64 samples to {grid}; test NLL (k=100, 1,000 images) {nll:.2f} nats")
    version_dir = export.saved_model(model, os.path.join(args.output_dir, "saved_model"), version=1,
                                     overwrite=True)
    tflite = export.tflite(model, os.path.join(args.output_dir, "model_int8.tflite"),
                           quantization="int8")
    print(f"3/4 exported {version_dir} and {tflite}")
    edge = EdgeSampler(tflite, num_threads=1)
    eps = np.random.default_rng(0).standard_normal((256, model.noise_dim)).astype(np.float32)
    edge_samples = edge.sample_from_noise(eps)
    error = np.abs(edge_samples - np.asarray(model.sample_from_noise(eps)))
    edge_grid = os.path.join(args.output_dir, "samples_int8_tflite.png")
    plotting.save_image_grid(edge_samples[:64], edge_grid, num_cols=8)
    print(f"4/4 sampled the int8 file with EdgeSampler (no TensorFlow needed): {edge_grid}")
    size = io_utils.directory_size(version_dir)
    recorded = {k: v for k, v in meta.get("metrics", {}).items() if k.startswith("test_nll")}
    rows = [("test NLL now (k=100, 1,000 images)", f"{nll:.2f} nats")]
    rows += [(f"{k} (recorded in the preset)", f"{v} nats") for k, v in recorded.items()]
    rows += [("SavedModel size", f"{size / 1024:,.0f} KiB"),
             ("int8 TFLite size", f"{os.path.getsize(tflite) / 1024:,.0f} KiB"),
             ("int8 vs Keras, max abs error (256 noise vectors)", f"{error.max():.4f}"),
             ("int8 vs Keras, mean abs error", f"{error.mean():.5f}")]
    width = max(len(r[0]) for r in rows)
    print()
    for label, value in rows:
        print(f"  {label:<{width}}  {value}")
    return 0


def _cmd_quickstart(args):
    import keras

    import zoo
    from zoo import evaluation, plotting, training

    print(f"1/3 training a VAE (MLP 784-512-256-32, Bernoulli) on MNIST for {args.epochs} epochs")
    keras.utils.set_random_seed(0)  # before tf.data and the weights: a repeatable run
    train = zoo.data.load("mnist", "train", data_dir=args.data_dir, binarize="dynamic")
    test = zoo.data.load("mnist", "test", data_dir=args.data_dir, binarize="static",
                         batch_size=500)
    model = zoo.VAE(input_shape=(28, 28, 1), latent_dim=32, hidden_dims=(512, 256), seed=0)
    model = training.train(model, train, epochs=args.epochs, output_dir=args.output_dir,
                           optimizer=keras.optimizers.Adam(1e-3), verbose=2)
    count = f"first {args.test_examples:,}" if args.test_examples else "10,000"
    print(f"2/3 evaluating on the {count} MNIST test images (NLL with k={args.num_samples})")
    figures = zoo.evaluate(model, test, num_samples=args.num_samples,
                           max_examples=args.test_examples)
    print("    " + evaluation.summarize(figures))
    grid = os.path.join(args.output_dir, "samples.png")
    plotting.save_image_grid(model.sample(64, seed=0).numpy(), grid, num_cols=8)
    print(f"3/3 wrote 64 samples to {grid}; the model is {os.path.join(args.output_dir, 'model.keras')}")
    return 0


def _cmd_score(args):
    import numpy as np

    import zoo
    from zoo import io_utils

    def split(name):
        x, _ = zoo.data.load_numpy(args.dataset, name, data_dir=args.data_dir,
                                   binarize=_binarize(args), seed=args.seed)
        return x

    # Checked before any data is read, so a missing or stray flag fails at once.
    if any(s in anomaly.REFERENCE_SCORES for s in args.score) != (args.reference_split is not None):
        raise ValueError(f"--reference-split is needed by --score {'/'.join(anomaly.REFERENCE_SCORES)} "
                         f"and only by those. Received: --score {' '.join(args.score)} with "
                         f"--reference-split {args.reference_split}")
    if len(args.score) > 1 and not args.calibrate_split:
        raise ValueError(f"Several scores are combined by standardising them on normal data: "
                         f"pass --calibrate-split. Received: --score {' '.join(args.score)} "
                         "without --calibrate-split")
    if args.ensemble and not args.calibrate_split:
        raise ValueError(f"An ensemble's scores are combined by standardising them on normal "
                         f"data: pass --calibrate-split. Received: --ensemble "
                         f"{' '.join(args.ensemble)} without --calibrate-split")
    reference = split(args.reference_split) if args.reference_split else None
    models = [zoo.load_model(m) for m in (args.model, *args.ensemble)]
    detector = anomaly.AnomalyDetector(models, score=args.score,
                                       target_fpr=args.target_fpr, num_samples=args.num_samples,
                                       seed=args.seed, reference=reference,
                                       neighbours=args.neighbours, metric=args.metric)

    summary = {"model": args.model, "dataset": args.dataset, "split": args.split,
               "score": detector.score_name}
    if args.ensemble:
        summary["ensemble"] = args.ensemble
    if reference is not None:
        summary.update(reference_split=args.reference_split, neighbours=args.neighbours,
                       metric=args.metric)
    if args.calibrate_split:
        summary["threshold"] = detector.calibrate(split(args.calibrate_split))
        summary.update(calibrate_split=args.calibrate_split, target_fpr=args.target_fpr)
    scores = detector.score(split(args.split))
    if args.calibrate_split:
        flagged = scores > summary["threshold"]
        lines = ["index,score,flagged"] + [f"{i},{v:.6g},{int(f)}"
                                             for i, (v, f) in enumerate(zip(scores, flagged))]
        summary["num_flagged"] = int(flagged.sum())
    else:
        lines = ["index,score"] + [f"{i},{v:.6g}" for i, v in enumerate(scores)]
    io_utils.write_text(args.output, "\n".join(lines) + "\n")
    summary.update(num_examples=int(len(scores)), mean_score=float(np.mean(scores)),
                   max_score=float(np.max(scores)), output=args.output)
    print(json.dumps(summary, indent=2))
    return 0


def _cmd_plot(args):
    import numpy as np

    import zoo
    from zoo import latent_space

    model = zoo.load_model(args.model)
    # By default every plot that applies; kinds asked for by name are refused with the
    # reason before any data is loaded.
    if args.kinds is None:
        args.kinds = plotting.applicable_plots(model)
    plotting.check_plot_kinds(model, args.kinds)
    x, labels = zoo.data.load_numpy(args.dataset, args.split, data_dir=args.data_dir,
                                    binarize=_binarize(args), seed=args.seed)
    pick = np.random.default_rng(args.seed).permutation(len(x))
    os.makedirs(args.output_dir, exist_ok=True)
    written = []

    def path(name):
        written.append(os.path.join(args.output_dir, f"{name}.png"))
        return written[-1]

    if "samples" in args.kinds:
        plotting.save_image_grid(np.asarray(model.sample(64, seed=args.seed)), path("samples"))
    if "reconstructions" in args.kinds:
        plotting.save_image_grid(plotting.reconstruction_rows(model, x[pick[:16]]),
                                 path("reconstructions"), num_cols=16)
    if "interpolations" in args.kinds:
        pairs = pick[16:24].reshape(4, 2)
        strips = [np.asarray(latent_space.interpolate(model, x[a], x[b], steps=10)) for a, b in pairs]
        plotting.save_image_grid(np.concatenate(strips), path("interpolations"), num_cols=10)
    if "traversals" in args.kinds:
        rows, _ = plotting.traversal_rows(model, x[pick[0]])
        plotting.save_image_grid(rows, path("traversals"), num_cols=7)
    if "latent_map" in args.kinds:
        codes = np.concatenate([np.asarray(model.embed(x[i:i + 500])) for i in range(0, len(x), 500)])
        plotting.save_figure(plotting.latent_map_figure(
            codes, labels, title=f"{args.dataset} {args.split}: posterior means"), path("latent_map"))
    if "kl" in args.kinds:
        plotting.save_figure(plotting.kl_figure(plotting.kl_per_dimension(model, x),
                                                model.active_unit_threshold), path("kl"))
    print("\n".join(f"wrote {p}" for p in written))
    return 0


def _cmd_bench(args):
    import keras

    import zoo
    from zoo import io_utils, speed, validation

    for name in ("steps", "rounds", "repeats"):  # before anything slow
        validation.positive_int(name, getattr(args, name))
    model = zoo.load_model(args.model)
    train = zoo.data.load(args.dataset, args.split, data_dir=args.data_dir,
                          batch_size=args.batch_size, binarize=_binarize(args), seed=args.seed,
                          drop_remainder=True).repeat()
    latency = speed.sampling_latency(model, repeats=args.repeats)
    model.compile(optimizer=keras.optimizers.Adam(1e-4))  # training changes only this copy
    throughput = speed.training_throughput(model, train, args.batch_size, steps=args.steps,
                                           rounds=args.rounds)
    figures = {"model": args.model, "class_name": type(model).__name__,
               "parameters": int(model.count_params()), "dataset": args.dataset,
               "training": throughput, "sampling_latency_keras": latency}
    text = json.dumps(figures, indent=2)
    print(text)
    if args.output:
        io_utils.write_text(args.output, text + "\n")
    return 0


def main(argv=None):
    args = _parser().parse_args(argv)
    command = {"presets": _cmd_presets, "train": _cmd_train, "eval": _cmd_eval,
               "sample": _cmd_sample, "export": _cmd_export, "score": _cmd_score, "plot": _cmd_plot,
               "bench": _cmd_bench, "demo": _cmd_demo,
               "quickstart": _cmd_quickstart}[args.command]
    from zoo.training import TrainingDiverged

    try:
        return command(args)
    except (ValueError, TypeError, FileExistsError) as err:
        print(f"vaezoo {args.command}: error: {err}", file=sys.stderr)
        return 2
    except TrainingDiverged as err:  # the checkpoint is kept: the message says what to do
        print(f"vaezoo {args.command}: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
