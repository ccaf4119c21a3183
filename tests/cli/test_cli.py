"""The `vaezoo` command line, in process and through the installed entry point."""

import json
import os
import re
import sys

import matplotlib.image
import numpy as np
import pytest

import zoo
from zoo import cli, plotting
from zoo.applications import anomaly

COMMANDS = ["presets", "train", "eval", "sample", "export", "score", "impute", "plot", "bench", "demo",
            "quickstart"]


# `--run-eagerly` in the tests of what `vaezoo train` builds and decides (every family with
# its options, the seeds, the likelihood, refusals, image folders), not of the compiled
# step: tracing the multi-step train function was most of their time (a VAE-GAN's three
# updates, ~7 s; a 4x4-pixel VAE's, 1 s of 1.5). The compiled step of every family is
# trained by tests/harness.py, through the command line by
# test_train_eval_sample_round_trip, and run twice to the same weights by the determinism
# tests of tests/test_reliability.py.
EAGER = "--run-eagerly"


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main([command, "--help"])
    assert info.value.code == 0
    assert "usage: vaezoo " + command in capsys.readouterr().out


def test_console_script_is_installed():
    # The installed `vaezoo` script calls zoo.cli:main (.ci/run and the README's Quickstart
    # run it end to end with `vaezoo demo`; a child process here only re-imported
    # TensorFlow for ~7 s).
    import importlib.metadata

    (entry,) = [e for e in importlib.metadata.entry_points(group="console_scripts")
                if e.name == "vaezoo"]
    assert entry.value == "zoo.cli:main" and entry.load() is cli.main
    assert os.access(os.path.join(os.path.dirname(sys.executable), "vaezoo"), os.X_OK)
    help_text = cli.parser().format_help()
    for command in COMMANDS:
        assert command in help_text


def test_train_eval_sample_round_trip(data_dir, tmp_path, capsys):
    run = str(tmp_path / "run")
    assert cli.main(["train", "--dataset", "mnist", "--split", "train[:512]", "--epochs", "2",
                     "--latent-dim", "4", "--hidden-dims", "64", "--output-dir", run,
                     "--data-dir", data_dir, "--quiet"]) == 0
    model = os.path.join(run, "model.keras")
    assert os.path.isfile(model)
    assert os.listdir(os.path.join(run, "logs", "plots"))  # TensorBoard plots by default
    capsys.readouterr()
    out_json = str(tmp_path / "eval.json")
    assert cli.main(["eval", model, "--dataset", "mnist", "--max-examples", "100", "-k", "20",
                     "--data-dir", data_dir, "--output", out_json]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["num_examples"] == 100 and figures["num_samples"] == 20
    assert figures["nll"] <= -figures["elbo"] + 1.0  # the IW bound is tighter than the ELBO
    assert figures["bits_per_dim"] == pytest.approx(figures["nll"] / (784 * 0.6931471805599453))
    with open(out_json) as f:
        assert json.load(f) == figures
    png = str(tmp_path / "grid.png")
    assert cli.main(["sample", model, "-n", "16", "-o", png]) == 0
    assert matplotlib.image.imread(png).shape[:2] == (2 * (4 * 29 + 1),) * 2  # 4x4 tiles, x2


def test_quickstart_trains_evaluates_and_samples(data_dir, tmp_path, capsys):
    out = str(tmp_path / "qs")
    assert cli.main(["quickstart", "--output-dir", out, "--epochs", "1", "-k", "10",
                     "--train-examples", "2000", "--test-examples", "200",
                     "--data-dir", data_dir]) == 0
    text = capsys.readouterr().out
    assert "on the first 2,000 MNIST training images" in text
    assert "NLL (k=10)" in text and "ELBO" in text
    assert os.path.isfile(os.path.join(out, "samples.png"))
    with open(os.path.join(out, "history.csv")) as f:
        assert len(f.read().splitlines()) == 2  # one epoch
    assert cli.main(["quickstart", "--train-examples", "0", "--output-dir", out]) == 2
    assert "--train-examples must be positive. Received: 0" in capsys.readouterr().err


def test_errors_are_reported_without_a_traceback(tmp_path, capsys):
    assert cli.main(["eval", str(tmp_path / "missing.keras")]) == 2
    assert "error: No such model file" in capsys.readouterr().err
    assert cli.main(["train", "--dataset", "mnsit", "--output-dir", str(tmp_path)]) == 2
    assert "Did you mean 'mnist'" in capsys.readouterr().err
    assert cli.main(["sample", "no_such_preset"]) == 2
    assert "Unknown preset" in capsys.readouterr().err


def test_train_with_the_same_seed_trains_the_same_weights(data_dir, tmp_path):
    import keras

    from tests.harness import assert_weights_equal

    def run(name, seed):
        out = str(tmp_path / name)
        assert cli.main(["train", EAGER, "--plot-every", "0",
                         "--split", "train[:256]", "--epochs", "1", "--latent-dim", "2",
                         "--hidden-dims", "16", "--batch-size", "64", "--seed", str(seed),
                         "--data-dir", data_dir, "--output-dir", out, "--quiet"]) == 0
        return keras.saving.load_model(os.path.join(out, "model.keras"))

    first, again, other = run("a", 5), run("b", 5), run("c", 6)
    assert_weights_equal(first, again)  # initial weights, shuffling, binarization and noise
    assert not np.array_equal(first.trainable_weights[0], other.trainable_weights[0])


def test_train_stops_on_a_run_of_nan_batches_and_keeps_the_checkpoint(tmp_path, capsys):
    # Three rows in four carry a NaN. The CLI shuffles the training rows, so practically
    # every batch of 32 holds one: the limit of 3 is reached in the first epoch.
    x = np.random.default_rng(0).random((256, 8, 8, 1)).astype("float32")
    x[64:, 0, 0, 0] = np.nan
    data = tmp_path / "nan.npz"
    np.savez(data, x_train=x)
    run = tmp_path / "run"
    args = ["train", "--dataset", str(data), "--binarize", "none", "--likelihood", "gaussian",
            "--latent-dim", "2", "--hidden-dims", "16", "--batch-size", "32", "--epochs", "2",
            "--skip-limit", "3", "--output-dir", str(run), "--quiet"]
    assert cli.main(args) == 1
    err = capsys.readouterr().err
    # At least the limit: with 8 steps per call the callback sees the skips once per call.
    skipped = re.search(r"the last (\d+) updates were skipped", err)
    assert skipped and int(skipped.group(1)) >= 3 and "not finite" in err, err
    assert "Traceback" not in err
    assert os.path.isdir(run / "backup") and not os.path.exists(run / "model.keras")
    assert cli.main(args[:-5] + ["--skip-limit", "0", "--output-dir", str(tmp_path / "r2")]) == 2
    assert "skip_limit" in capsys.readouterr().err


def _option_args(family):
    """`--flag value` for each of the family's own options its first small config sets."""
    config = next(iter(family.small_configs.values()))
    args, expected = [], {}
    for option in family.options:
        if option.name in config:
            value = config[option.name]
            text = ",".join(map(str, value)) if isinstance(value, tuple) else str(value)
            args += [option.flag, text]
            expected[option.name] = value
    return args, expected


@pytest.mark.parametrize("name", zoo.families.names())
def test_train_builds_every_registered_family_with_its_options(data_dir, tmp_path, name):
    import keras

    family = zoo.families.get(name)
    extra, expected = _option_args(family)
    run = str(tmp_path / name)
    # Two small batches: every optimizer takes a step.
    assert cli.main(["train", EAGER, "--plot-every", "0", "--model", name, "--split", "train[:32]",
                     "--batch-size", "16", "--epochs", "1",
                     "--output-dir", run, "--data-dir", data_dir, "--quiet", *extra]) == 0
    assert not os.path.exists(os.path.join(run, "logs", "plots"))  # --plot-every 0
    model = keras.saving.load_model(os.path.join(run, "model.keras"))
    assert type(model) is family.model_class
    config = model.get_config()
    for key, value in expected.items():  # every option reached the constructor
        assert tuple(config[key]) == value if isinstance(value, tuple) else config[key] == value, key
    for part in model.trainable_parts():  # and every optimizer trained (a VAE-GAN has three)
        assert int(part.optimizer.iterations) > 0, part.loss


def test_train_refuses_an_option_of_another_family(tmp_path, capsys):
    assert cli.main(["train", "--model", "vae", "--flow", "maf", "--output-dir",
                     str(tmp_path)]) == 2
    assert "--flow is not an option of --model vae" in capsys.readouterr().err


def test_eval_reports_fd_for_any_model(data_dir, tmp_path, capsys):
    import zoo

    path = str(tmp_path / "m.keras")
    zoo.VAE(input_shape=(28, 28, 1), latent_dim=4, hidden_dims=(16,), seed=0).save(path)
    assert cli.main(["eval", path, "--max-examples", "300", "-k", "2", "--fd", "--fd-samples",
                     "300", "--data-dir", data_dir]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["fd"] > 0 and "not comparable" in figures["fd_note"]
    # --no-nll measures the same FD (same seed) without the likelihood pass.
    assert cli.main(["eval", path, "--max-examples", "300", "--fd", "--fd-samples", "300",
                     "--no-nll", "--data-dir", data_dir]) == 0
    fd_only = json.loads(capsys.readouterr().out)
    assert fd_only["fd"] == figures["fd"] and "nll" not in fd_only and "elbo" not in fd_only
    assert cli.main(["eval", path, "--no-nll", "--data-dir", data_dir]) == 2
    assert "--no-nll needs --fd" in capsys.readouterr().err


def test_demo_runs_a_preset_end_to_end(data_dir, tmp_path, capsys):
    import zoo

    model = zoo.VAE(input_shape=(28, 28, 1), latent_dim=4, hidden_dims=(32,), seed=0)
    preset = model.save_to_preset(str(tmp_path / "tiny"), metadata={"metrics": {"test_nll_k1000": 99.0}})
    out = str(tmp_path / "demo")
    assert cli.main(["demo", "--preset", preset, "--output-dir", out, "--data-dir", data_dir]) == 0
    text = capsys.readouterr().out
    for piece in ("test NLL now", "test_nll_k1000 (recorded in the preset)", "int8 TFLite size",
                  "max abs error"):
        assert piece in text
    for name in ("samples.png", "samples_int8_tflite.png", "model_int8.tflite"):
        assert os.path.isfile(os.path.join(out, name))
    assert os.path.isdir(os.path.join(out, "saved_model", "1"))


def test_export_writes_each_quantization_asked_for_and_reports_them(tmp_path, capsys):
    from export.edge import EdgeSampler
    from tests.families import FAMILIES

    model = FAMILIES["VAE-mlp"]()
    model(np.zeros((1, 28, 28, 1), np.float32))
    model.save(str(tmp_path / "m.keras"))
    report = str(tmp_path / "report.json")
    assert cli.main(["export", str(tmp_path / "m.keras"), "--tflite", str(tmp_path / "vae.tflite"),
                     "--quantization", "float32", "int8", "--report-json", report,
                     "--int8-budget", "0.02", "--batch-size", "16"]) == 0
    out = capsys.readouterr().out
    assert "int8 plan: none (full int8); mean abs error" in out and "(budget 0.02)" in out
    assert EdgeSampler(str(tmp_path / "vae_int8.tflite")).metadata["plan_search"]["budget"] == 0.02
    for quantization in ("float32", "int8"):
        path = str(tmp_path / f"vae_{quantization}.tflite")
        assert f"TFLite ({quantization}) written to {path}" in out
        assert EdgeSampler(path).quantization == quantization
        assert EdgeSampler(path).batch_size == 16  # fixed, for LiteRT.js
    with open(report) as f:
        rows = json.load(f)
    assert [row["target"] for row in rows] == ["TFLite float32", "TFLite int8"]
    assert rows[0]["max_abs_error"] < 1e-5 and rows[1]["mean_abs_error"] < 0.02


def test_export_file_names_for_several_quantizations():
    assert cli.export.tflite_files("m.tflite", ["int8"]) == {"int8": "m.tflite"}
    assert cli.export.tflite_files("out/m.tflite", ["float32", "int8", "float32"]) == {
        "float32": "out/m_float32.tflite", "int8": "out/m_int8.tflite"}
    assert cli.export.tflite_files("{quantization}/m.tflite", ["float16"]) == {"float16": "float16/m.tflite"}
    assert cli.export.tflite_files("m", ["dynamic", "int8"]) == {"dynamic": "m_dynamic.tflite",
                                                           "int8": "m_int8.tflite"}


def test_bench_measures_training_and_sampling(data_dir, tmp_path, capsys):
    from tests.families import FAMILIES

    out = str(tmp_path / "bench.json")
    # A small model in batches of 8: tracing and stepping the preset's convolutions at the
    # default batch of 128 were most of the test's time.
    model = FAMILIES["VAE-mlp"]()
    path = str(tmp_path / "m.keras")
    model.save(path)
    assert cli.main(["bench", path, "--split", "train[:64]", "--data-dir", data_dir,
                     "--batch-size", "8", "--steps", "3", "--rounds", "2", "--repeats", "3",
                     "--output", out]) == 0
    with open(out) as f:
        figures = json.load(f)
    assert figures["class_name"] == "VAE" and figures["parameters"] == model.count_params()
    assert len(figures["training"]["per_round"]) == 2 and figures["training"]["batch_size"] == 8
    assert figures["training"]["images_per_second"] > 0
    assert 0 < figures["sampling_latency_keras"]["b1"]["p50_ms"] <= figures["sampling_latency_keras"]["b1"]["p95_ms"]
    assert cli.main(["bench", "vae_mnist", "--data-dir", data_dir, "--steps", "0"]) == 2
    assert "steps must be positive. Received: steps=0" in capsys.readouterr().err


def test_score_writes_scores_and_flags_against_a_calibrated_threshold(data_dir, tmp_path, capsys,
                                                                     monkeypatch):
    from zoo.applications.anomaly import scores

    out = str(tmp_path / "scores.csv")
    assert cli.main(["score", "vae_mnist", "--dataset", "fashion_mnist", "--split", "test[:50]",
                     "--data-dir", data_dir, "--score", "elbo", "--output", out]) == 0
    rows = open(out).read().splitlines()
    assert rows[0] == "index,score" and len(rows) == 51
    summary = json.loads(capsys.readouterr().out)
    assert summary["num_examples"] == 50 and summary["mean_score"] > 150  # clothes: far from digits

    # The default score is the library's, the feature distance to the model's own samples
    # (tests/applications/test_anomaly.py checks that it tells clothes from digits). A
    # threshold from digits (normal), applied to digits: about target_fpr of them flagged.
    # 500 of the model's samples instead of 5,000: drawing and encoding them was the most
    # expensive step of this test, and the threshold is set on the same reference.
    monkeypatch.setattr(scores, "SAMPLE_REFERENCE_SIZE", 500)
    assert cli.main(["score", "vae_mnist", "--split", "test[:300]", "--data-dir", data_dir,
                     "--calibrate-split", "test[300:800]", "--target-fpr", "0.1",
                     "--output", out]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["score"] == "sample_knn" and summary["neighbours"] == 5, summary
    assert summary["num_examples"] == 300, summary
    assert 0.02 < summary["num_flagged"] / summary["num_examples"] < 0.2, summary
    assert open(out).read().splitlines()[0] == "index,score,flagged"

    # latent_knn: a reference example is its own nearest neighbour; a held-out one is not.
    for split in ("train[:100]", "test[:100]"):
        assert cli.main(["score", "vae_mnist", "--split", split, "--data-dir", data_dir,
                         "--score", "latent_knn", "--reference-split", "train[:300]",
                         "--neighbours", "1", "--output", out]) == 0
        summary = json.loads(capsys.readouterr().out)
        assert summary["reference_split"] == "train[:300]" and summary["neighbours"] == 1
        distances = np.loadtxt(out, delimiter=",", skiprows=1)[:, 1]
        if split.startswith("train"):
            assert np.abs(distances).max() < 1e-3, distances.max()
    assert distances.min() > 0.1, distances.min()
    # --metric seuclidean: the library's standardised search, on the same binarized splits.
    assert cli.main(["score", "vae_mnist", "--split", "test[:100]", "--data-dir", data_dir,
                     "--score", "latent_knn", "--reference-split", "train[:300]",
                     "--neighbours", "1", "--metric", "seuclidean", "--output", out]) == 0
    assert json.loads(capsys.readouterr().out)["metric"] == "seuclidean"
    load = lambda split: zoo.data.load_numpy("mnist", split, data_dir=data_dir,  # noqa: E731
                                             binarize="static", seed=0)[0]
    expected = anomaly.anomaly_scores(zoo.from_preset("vae_mnist"), load("test[:100]"),
                                      "latent_knn", reference=load("train[:300]"),
                                      neighbours=1, metric="seuclidean")
    np.testing.assert_allclose(np.loadtxt(out, delimiter=",", skiprows=1)[:, 1], expected,
                               rtol=1e-5)
    assert not np.allclose(expected, distances, rtol=0.05)
    assert cli.main(["score", "vae_mnist", "--score", "latent_knn", "--data-dir", data_dir]) == 2
    assert "--reference-split is needed by --score latent_knn/feature_knn/typicality" \
        in capsys.readouterr().err
    assert cli.main(["score", "vae_mnist", "--reference-split", "train[:10]",
                     "--data-dir", data_dir]) == 2
    assert "Received: --score sample_knn with --reference-split train[:10]" \
        in capsys.readouterr().err
    assert cli.main(["score", "vae_mnist", "--score", "elbo", "--compressor", "webp",
                     "--data-dir", data_dir]) == 2
    assert "compressor is only used by the scores ['elbo_complexity']" in capsys.readouterr().err
    assert cli.main(["score", "vae_mnist", "--score", "likelihood_ratio", "--data-dir", data_dir]) == 2
    assert "pass background=<model>" in capsys.readouterr().err

    # Two scores combined: standardised and thresholded on the calibration split.
    assert cli.main(["score", "vae_mnist", "--split", "test[:200]", "--data-dir", data_dir,
                     "--score", "latent_knn", "reconstruction", "--reference-split", "train[:300]",
                     "--calibrate-split", "test[200:700]", "--target-fpr", "0.1",
                     "--output", out]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["score"] == "latent_knn+reconstruction", summary
    assert summary["num_examples"] == 200, summary
    assert 0.02 < summary["num_flagged"] / summary["num_examples"] < 0.2, summary
    assert cli.main(["score", "vae_mnist", "--score", "elbo", "reconstruction",
                     "--data-dir", data_dir]) == 2
    assert "pass --calibrate-split. Received: --score elbo reconstruction without" \
        in capsys.readouterr().err

    # An ensemble: each model's score, standardised on the calibration split, averaged.
    assert cli.main(["score", "vae_mnist", "--ensemble", "flow_vae_mnist", "--split", "test[:200]",
                     "--data-dir", data_dir, "--score", "reconstruction",
                     "--calibrate-split", "test[200:700]", "--target-fpr", "0.1",
                     "--output", out]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["score"] == "reconstruction (ensemble of 2)", summary
    assert summary["ensemble"] == ["flow_vae_mnist"] and summary["num_examples"] == 200, summary
    assert 0.02 < summary["num_flagged"] / summary["num_examples"] < 0.2, summary
    assert abs(summary["mean_score"]) < 1.0, summary  # standardised on normal digits
    assert cli.main(["score", "vae_mnist", "--ensemble", "flow_vae_mnist",
                     "--data-dir", data_dir]) == 2
    assert "Received: --ensemble flow_vae_mnist without --calibrate-split" \
        in capsys.readouterr().err


def test_plot_of_a_flow_prior_leaves_out_only_the_kl_per_dimension(data_dir, tmp_path, capsys):
    from tests.families import FAMILIES

    # A small RealNVP prior: the preset's MAF samples its 32 latent units one after
    # another, unrolled, and tracing that for the samples plot took most of the test.
    model = str(tmp_path / "flow.keras")
    FAMILIES["FlowPriorVAE-realnvp"]().save(model)
    out = str(tmp_path / "plots")
    args = ["plot", model, "--split", "test[:100]", "--data-dir", data_dir, "--output-dir", out]
    assert cli.main(args) == 0
    assert sorted(os.listdir(out)) == sorted(f"{kind}.png" for kind in plotting.PLOT_KINDS if kind != "kl")
    capsys.readouterr()
    assert cli.main(args + ["--kinds", "kl"]) == 2  # asked for by name: a clear refusal
    assert "kl needs a KL that splits by latent dimension" in capsys.readouterr().err


def test_plot_of_tabular_data_refuses_image_plots_before_loading_data(tmp_path, capsys):
    import zoo

    path = str(tmp_path / "tabular.keras")
    zoo.VAE(input_shape=(5,), latent_dim=2, hidden_dims=(8,), likelihood="gaussian").save(path)
    # No data directory is given: the refusal comes first, with the reason.
    assert cli.main(["plot", path, "--kinds", "samples", "latent_map"]) == 2
    err = capsys.readouterr().err
    assert "samples need image data; this model's data has shape [5]" in err
    assert "The kinds that apply are ['latent_map', 'kl']" in err


def test_plot_writes_every_kind_as_a_png(data_dir, tmp_path, capsys):
    out = str(tmp_path / "plots")
    assert cli.main(["plot", "vae_mnist", "--split", "test[:300]", "--data-dir", data_dir,
                     "--output-dir", out]) == 0
    for kind in plotting.PLOT_KINDS:
        image = matplotlib.image.imread(os.path.join(out, f"{kind}.png"))
        assert image.ndim == 3 and min(image.shape[:2]) > 50, (kind, image.shape)
        assert image[..., :3].std() > 0.02, kind  # not blank
    # Reconstructions: 2 rows of 16 tiles of 28 px, 1 px padding, scaled by 2.
    assert matplotlib.image.imread(os.path.join(out, "reconstructions.png")).shape[:2] == (
        2 * (2 * 29 + 1), 2 * (16 * 29 + 1))


def _npz(tmp_path, name, x):
    path = str(tmp_path / f"{name}.npz")
    np.savez(path, x_train=x, x_test=x[:8])
    return path


def _trained_config(run):
    import keras

    model = keras.saving.load_model(os.path.join(run, "model.keras"))
    return model.get_config()["likelihood"], model.binarize


@pytest.mark.parametrize("name,make,args,likelihood,binarize", [
    ("binary", lambda r: (r.random((32, 4, 4, 1)) > 0.5).astype(np.float32), [], "bernoulli", None),
    ("grey8", lambda r: r.integers(0, 256, (32, 4, 4, 1)).astype(np.uint8), [],
     "discretized_logistic", None),
    ("grey8_bernoulli", lambda r: r.integers(0, 256, (32, 4, 4, 1)).astype(np.uint8),
     ["--likelihood", "bernoulli"], "bernoulli", "dynamic"),
    ("real", lambda r: r.normal(size=(32, 5)).astype(np.float32), [], "gaussian", None),
])
def test_train_picks_the_likelihood_and_binarization_from_the_data(tmp_path, capsys, name, make,
                                                                     args, likelihood, binarize):
    data = _npz(tmp_path, name, make(np.random.default_rng(0)))
    run = str(tmp_path / "run")
    assert cli.main(["train", EAGER, "--plot-every", "0",
                     "--data", data, "--epochs", "1", "--latent-dim", "2",
                     "--hidden-dims", "8", "--output-dir", run, "--quiet", *args]) == 0
    assert _trained_config(run) == (likelihood, binarize)
    capsys.readouterr()
    # eval follows what the model recorded: a fixed draw for a binarized model, none otherwise
    assert cli.main(["eval", os.path.join(run, "model.keras"), "--data", data, "-k", "2"]) == 0
    assert json.loads(capsys.readouterr().out)["binarize"] == ("static" if binarize else "none")


def test_train_refuses_or_warns_where_a_choice_contradicts_the_data(tmp_path, capsys):
    rng = np.random.default_rng(0)
    real = _npz(tmp_path, "real", rng.normal(size=(16, 5)).astype(np.float32))
    run = str(tmp_path / "run")
    assert cli.main(["train", EAGER, "--plot-every", "0",
                     "--data", real, "--likelihood", "bernoulli", "--output-dir", run,
                     "--quiet"]) == 2
    assert "A Bernoulli likelihood needs values in [0, 1]" in capsys.readouterr().err
    colour = _npz(tmp_path, "colour", rng.integers(0, 256, (16, 4, 4, 3)).astype(np.uint8))
    with pytest.warns(UserWarning, match="turns each colour channel into random bits"):
        assert cli.main(["train", EAGER, "--plot-every", "0",
                         "--data", colour, "--likelihood", "bernoulli", "--binarize",
                         "dynamic", "--epochs", "1", "--latent-dim", "2", "--hidden-dims", "8",
                         "--output-dir", str(tmp_path / "c"), "--quiet"]) == 0
    # With auto binarization, colour is not binarized even for a Bernoulli likelihood.
    with pytest.warns(UserWarning, match="relaxation"):
        assert cli.main(["train", EAGER, "--plot-every", "0",
                         "--data", colour, "--likelihood", "bernoulli", "--epochs", "1",
                         "--latent-dim", "2", "--hidden-dims", "8",
                         "--output-dir", str(tmp_path / "c2"), "--quiet"]) == 0
    assert _trained_config(str(tmp_path / "c2"))[1] is None


def test_eval_of_an_npz_without_a_test_split_says_so(tmp_path, capsys):
    path = str(tmp_path / "one.npz")
    np.savez(path, x=(np.random.default_rng(0).random((16, 5)) > 0.5).astype(np.float32))
    model = str(tmp_path / "m.keras")
    zoo.VAE(input_shape=(5,), latent_dim=2, hidden_dims=(8,)).save(model)
    assert cli.main(["eval", model, "--data", path, "-k", "2"]) == 2
    assert "no 'test' split" in capsys.readouterr().err
    assert cli.main(["eval", model, "--data", path, "--split", "train[8:]", "-k", "2"]) == 0


def test_presets_evaluate_on_the_binarized_test_set_by_default(data_dir, tmp_path, capsys):
    assert zoo.from_preset("vae_mnist").binarize == "dynamic"
    assert cli.main(["eval", "vae_mnist", "--data-dir", data_dir, "--split", "test[:20]",
                     "-k", "2"]) == 0
    assert json.loads(capsys.readouterr().out)["binarize"] == "static"


def test_a_folder_of_colour_photos_trains_samples_and_exports(tmp_path, capsys):
    from PIL import Image

    rng = np.random.default_rng(0)
    colours = {"red": (200, 30, 30), "blue": (30, 60, 210)}
    for name, colour in colours.items():
        os.makedirs(tmp_path / "photos" / name)
        for i in range(24):  # 10 x 12 photos, resized to 8 x 8 by --image-size
            pixels = np.clip(np.array(colour) + rng.integers(-20, 21, (10, 12, 3)), 0, 255)
            Image.fromarray(pixels.astype(np.uint8)).save(tmp_path / "photos" / name / f"{i}.jpg")
    run, photos = str(tmp_path / "run"), str(tmp_path / "photos")
    assert cli.main(["train", EAGER, "--plot-every", "0",
                     "--data", photos, "--image-size", "8", "--conditional",
                     "--network", "conv", "--hidden-dims", "8", "--latent-dim", "2",
                     "--epochs", "1", "--batch-size", "16", "--output-dir", run, "--quiet"]) == 0
    model_path = os.path.join(run, "model.keras")
    import keras

    model = keras.saving.load_model(model_path)
    # 8-bit colour picks the mixture; labels are the folder names.
    assert type(model.likelihood).__name__ == "DiscretizedLogisticMixture"
    assert model.data_shape == (8, 8, 3) and list(model.class_names) == ["blue", "red"]
    png = str(tmp_path / "grid.png")
    assert cli.main(["sample", model_path, "-n", "4", "--labels", "red,blue", "-o", png]) == 0
    assert matplotlib.image.imread(png).shape[-1] in (3, 4)  # a colour grid
    tflite = str(tmp_path / "colour.tflite")
    assert cli.main(["export", model_path, "--tflite", tflite]) == 0
    from export.edge import EdgeSampler

    images = EdgeSampler(tflite).sample(2, seed=0, labels="red", dtype="uint8")
    assert images.shape == (2, 8, 8, 3) and images.dtype == np.uint8
