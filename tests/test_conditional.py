"""Conditional models p(x | y): every registered family with `num_classes`, its labels API,
training, saving, evaluation and export with labels."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.python.tools import saved_model_utils

import export
import zoo
from export import report
from export.edge import EdgeSampler
from tests.harness import assert_weights_equal

FAMILY_NAMES = [family.name for family in zoo.families.all_families()]
NUM_CLASSES = 3


def halves(n=96, seed=0):
    """Images whose class says where the ink is: 0 top half, 1 bottom half, 2 left half."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % NUM_CLASSES
    probs = np.full((n, 28, 28, 1), 0.05)
    probs[y == 0, :14] = 0.9
    probs[y == 1, 14:] = 0.9
    probs[y == 2, :, :14] = 0.9
    return (rng.uniform(size=probs.shape) < probs).astype(np.float32), y


def conditional(name, **overrides):
    family = zoo.families.get(name)
    settings = {"num_classes": NUM_CLASSES, "seed": 0, "class_names": ["top", "bottom", "left"]}
    return family.small_model(**{**settings, **overrides})


_TRAINED = {}


def trained(name):
    """A family's small conditional model after one epoch on `halves`, once per worker."""
    if name not in _TRAINED:
        keras.utils.set_random_seed(0)
        model = conditional(name)
        x, y = halves()
        model.compile(optimizer=keras.optimizers.Adam(1e-3))
        model.fit(x, y, batch_size=32, epochs=1, shuffle=False, verbose=0)
        _TRAINED[name] = model, x, y
    return _TRAINED[name]


@pytest.mark.parametrize("name", FAMILY_NAMES)
def test_every_family_trains_on_labels_counts_them_and_restores_exactly(name, tmp_path):
    model, x, y = trained(name)
    np.testing.assert_array_equal(model.class_counts.numpy(), np.bincount(y, minlength=NUM_CLASSES))
    eps = np.random.default_rng(1).standard_normal((6, model.noise_dim)).astype(np.float32)
    ids = [0, 1, 2, 2, 1, 0]
    expected = model.sample_from_noise(eps, labels=ids).numpy()
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert (loaded.num_classes, loaded.class_names) == (NUM_CLASSES, ("top", "bottom", "left"))
    assert_weights_equal(model, loaded)  # bit for bit: the restore itself is exact
    # The outputs of two traces of the same graph can differ in the last bit (seen once in
    # CI, for the HVAE, on a loaded machine): the same weights, not the same kernels' order.
    np.testing.assert_allclose(loaded.sample_from_noise(eps, labels=ids).numpy(), expected,
                               rtol=0, atol=1e-6)
    if name == "vae":  # the preset format stores the same config and weights
        preset = zoo.from_preset(model.save_to_preset(str(tmp_path / "preset")))
        np.testing.assert_array_equal(preset.sample_from_noise(eps, labels=ids).numpy(), expected)
    # Names and ids are the same labels; the label changes the sample.
    np.testing.assert_array_equal(
        model.sample_from_noise(eps, labels=["top", "bottom", "left", "left", "bottom", "top"]).numpy(),
        expected)
    assert not np.allclose(model.sample_from_noise(eps, labels=[1] * 6).numpy(), expected)


@pytest.mark.parametrize("name", FAMILY_NAMES)
def test_bounds_are_of_log_p_x_given_y(name):
    model, x, y = trained(name)
    x, y = x[:8], y[:8]
    elbo = model.elbo(x, num_samples=4, seed=0, labels=y).numpy()
    iw = model.log_likelihood(x, num_samples=64, seed=0, labels=y).numpy()
    assert np.all(np.isfinite(iw)) and np.mean(iw) >= np.mean(elbo) - 0.5
    # Labels enter the bound: another class gives another value.
    other = (y + 1) % NUM_CLASSES
    assert not np.allclose(model.elbo(x, seed=0, labels=other).numpy(),
                           model.elbo(x, seed=0, labels=y).numpy())
    assert model.embed(x, labels=y).shape[0] == 8
    assert model.reconstruct(x, labels=y).shape == x.shape


def well_trained():
    """A conditional VAE trained for 240 steps on `halves`, once per worker. Early on z
    also carries the class (the encoder sees x); the KL moves it into the label over
    training, and samples then follow the label."""
    if "well" not in _TRAINED:
        keras.utils.set_random_seed(0)
        model = zoo.VAE(input_shape=(28, 28, 1), latent_dim=4, hidden_dims=(64,),
                        num_classes=NUM_CLASSES, seed=0)
        x, y = halves(n=1200)
        model.compile(optimizer=keras.optimizers.Adam(1e-2))
        model.fit(x, y, batch_size=100, epochs=20, verbose=0)
        _TRAINED["well"] = model
    return _TRAINED["well"]


def test_a_trained_conditional_vae_generates_and_explains_the_chosen_class():
    model = well_trained()
    test_x, test_y = halves(n=90, seed=1)
    right = model.elbo(test_x, seed=0, labels=test_y).numpy()
    wrong = model.elbo(test_x, seed=0, labels=(test_y + 1) % NUM_CLASSES).numpy()
    # The label carries where the ink is: the right one explains (almost) every image better.
    assert np.mean(right > wrong) > 0.75 and np.mean(right) > np.mean(wrong) + 5
    samples = model.sample(60, seed=0, labels=[0] * 30 + [1] * 30).numpy()
    top, bottom = samples[:, :14].mean(axis=(1, 2, 3)), samples[:, 14:].mean(axis=(1, 2, 3))
    assert np.mean(top[:30] > bottom[:30]) >= 0.9 and np.mean(bottom[30:] > top[30:]) >= 0.9


def test_sampling_without_labels_draws_the_training_class_frequencies():
    model, _, _ = trained("vae")
    counts = model.class_counts.numpy()
    try:
        model.class_counts.assign([0.0, 7.0, 0.0])  # only class 1 seen
        np.testing.assert_array_equal(model.sample(5, seed=3).numpy(),
                                      model.sample(5, seed=3, labels=1).numpy())
    finally:
        model.class_counts.assign(counts)
    fresh = conditional("vae")  # never trained: uniform
    drawn = zoo.labels.draw(fresh.class_counts.numpy(), 3000, seed=0)
    assert np.all(np.abs(np.bincount(drawn) / 3000 - 1 / 3) < 0.03)


@pytest.mark.parametrize("call,fragment", [
    (lambda m, x: m.sample(3, labels=[0, 1, 3]), r"labels must be class ids in \[0, 3\)"),
    (lambda m, x: m.sample(3, labels=[0, 1]), r"labels must hold one class id per example \(3\)"),
    (lambda m, x: m.elbo(x[:4]), "This model is conditional"),
    (lambda m, x: m.encode(x[:4]), "This model is conditional"),
    (lambda m, x: m.log_likelihood(x[:2], num_samples=2), "This model is conditional"),
    (lambda m, x: m.sample_from_noise(np.zeros((2, m.noise_dim))), "This model is conditional"),
    (lambda m, x: m.embed(x[:2], labels=["top", "middle"]), "one of the class names"),
    (lambda m, x: m.embed(x[:2], labels=[0.5, 1]), "must be integer class ids"),
    (lambda m, x: m.fit(x, epochs=1, verbose=0), r"trains on \(x, labels\) batches"),
])
def test_bad_labels_are_named(call, fragment):
    model, x, _ = trained("vae")
    with pytest.raises(ValueError, match=fragment):
        call(model, x)


def test_labels_are_refused_where_they_mean_nothing():
    plain = zoo.VAE(input_shape=(28, 28, 1), latent_dim=4, hidden_dims=(16,))
    with pytest.raises(ValueError, match="labels are for conditional models"):
        plain.sample(2, labels=[1, 1])
    with pytest.raises(TypeError, match="this model has no class_names"):
        conditional("vae", class_names=None).sample(1, labels="top")
    with pytest.raises(ValueError, match="num_classes must be >= 2"):
        zoo.VAE(input_shape=(28, 28, 1), num_classes=1)
    with pytest.raises(TypeError, match="num_classes must be an integer"):
        zoo.VAE(input_shape=(28, 28, 1), num_classes="10")
    with pytest.raises(ValueError, match="class_names must hold 3 distinct names"):
        zoo.VAE(input_shape=(28, 28, 1), num_classes=3, class_names=["a", "b"])


def test_evaluation_reads_the_labels_of_the_dataset():
    model, x, y = trained("vae")
    dataset = zoo.data.from_arrays(x[:32], y[:32], batch_size=16, shuffle=False)
    figures = zoo.evaluation.evaluate(model, dataset, num_samples=8)
    assert figures["num_examples"] == 32 and np.isfinite(figures["nll"])
    unlabelled = zoo.data.from_arrays(x[:32], batch_size=16, shuffle=False)
    with pytest.raises(ValueError, match="evaluated on \\(x, labels\\) batches"):
        zoo.evaluation.evaluate(model, unlabelled, num_samples=8)


# The VAE's sampler is its decode subgraph under two names (labels aliased too); the
# HVAE's are two subgraphs. int8 with labels is checked where it is exported anyway: the
# HVAE's in tests/export/test_fixed_batch.py, a VAE's for the browser page.
@pytest.mark.parametrize("name,quantizations", [("vae", ("float32",)), ("hvae", ("float32",))])
def test_exported_samplers_take_labels_and_match_keras(name, quantizations, tmp_path):
    model, _, _ = trained(name)
    paths = {q: str(tmp_path / f"{q}.tflite") for q in quantizations}
    export.tflite_variants(model, paths)
    eps = np.random.default_rng(2).standard_normal((5, model.noise_dim)).astype(np.float32)
    ids = np.array([2, 0, 1, 1, 0])
    expected = model.sample_from_noise(eps, labels=ids).numpy()
    edge = EdgeSampler(paths["float32"])
    assert edge.num_classes == NUM_CLASSES and edge.class_names == ("top", "bottom", "left")
    np.testing.assert_allclose(edge.sample_from_noise(eps, labels=ids), expected, atol=1e-4)
    np.testing.assert_allclose(edge.sample_from_noise(eps, labels=["left", "top", "bottom", "bottom", "top"]),
                               expected, atol=1e-4)
    z = model.latent_code(np.zeros((5, 28, 28, 1), np.float32), labels=ids).numpy()
    np.testing.assert_allclose(edge.decode(z, labels=ids), model.decode(z, labels=ids).mean().numpy(),
                               atol=1e-4)
    if "int8" in paths:
        int8 = EdgeSampler(paths["int8"])
        assert int8.metadata["parity"]["mean_abs_error"] <= export.quantize.MEAN_ERROR_BUDGET
    np.testing.assert_allclose(edge.metadata["class_frequencies"], [1 / 3] * 3)
    with pytest.raises(ValueError, match=r"labels must be class ids in \[0, 3\)"):
        edge.sample(2, labels=[0, 3])
    with pytest.raises(ValueError, match="This sampler is conditional"):
        edge.sample_from_noise(eps)
    assert edge.sample(4, seed=0).shape == (4, 28, 28, 1)  # classes drawn from the metadata

    version = export.saved_model(model, str(tmp_path / "served"), version=1)
    # What TF Serving's users see: the sampler's label input in the SignatureDef, read
    # from saved_model.pb as `saved_model_cli show` reads it (tests/export/test_serving.py
    # runs the tool itself; here, in process, which saves starting TensorFlow again).
    signature = saved_model_utils.get_meta_graph_def(version, "serve").signature_def
    labels_input = signature["sample_from_noise"].inputs["labels"]
    assert labels_input.dtype == tf.int32.as_datatype_enum
    assert [d.size for d in labels_input.tensor_shape.dim] == [-1]
    served = tf.saved_model.load(version)
    out = served.signatures["sample_from_noise"](noise=tf.constant(eps), labels=tf.constant(ids, tf.int32))
    np.testing.assert_allclose(out["samples"].numpy(), expected, atol=1e-5)
    score = served.signatures["score"](x=tf.zeros((5, 28, 28, 1)), labels=tf.constant(ids, tf.int32))
    assert score["score"].shape == (5,)
    # The export report (`vaezoo export --report`) measures every target with labels.
    rows = report.build_report(model, saved_model_dir=version, tflite_paths=[paths["float32"]],
                               num_vectors=96, batch_sizes=(2,) if name == "vae" else (), repeats=3)
    assert [r["target"] for r in rows] == ["SavedModel", "TFLite float32"]
    assert rows[0]["max_abs_error"] < 1e-5 and rows[1]["max_abs_error"] < 1e-4


def test_a_conditional_model_trains_under_a_distribution_strategy(mirrored):
    x, y = halves(n=64)
    with mirrored.scope():
        model = conditional("vae")
        model.compile(optimizer=keras.optimizers.Adam(1e-3))
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    # Each replica's labels are summed once into the counts.
    np.testing.assert_array_equal(model.class_counts.numpy(), np.bincount(y, minlength=NUM_CLASSES))


def test_data_yields_labels_for_conditional_training(data_dir):
    ds = zoo.data.load("mnist", split="test[:64]", data_dir=data_dir, batch_size=32,
                       binarize="static", with_labels=True)
    model = zoo.VAE(input_shape=(28, 28, 1), latent_dim=4, hidden_dims=(32,), num_classes=10)
    model.compile(optimizer="adam")
    model.fit(ds, epochs=1, verbose=0)
    assert model.class_counts.numpy().sum() == 64
    assert os.path.basename(data_dir)  # the shared data folder was used


def test_applications_take_the_labels_of_a_conditional_model():
    model, x, y = trained("vae")
    x, y = x[:12], y[:12]
    mask = np.ones_like(x)
    mask[:, 14:] = 0  # the bottom half is missing
    filled = model.impute(x, mask, num_iterations=6, num_chains=2, seed=0, labels=y).numpy()
    np.testing.assert_array_equal(filled[:, :14], x[:, :14])  # observed entries kept
    importance = model.impute(x, mask, method="importance", num_iterations=4, num_chains=2,
                              num_samples=8, seed=0, labels=y).numpy()
    assert np.all((importance >= 0) & (importance <= 1))
    with pytest.raises(ValueError, match="This model is conditional"):
        model.impute(x, mask, num_iterations=2, num_chains=2)
    # Scores of x given its label; label-free ones need none; the rest are refused.
    elbo = model.anomaly_score(x, score="elbo", labels=y)
    np.testing.assert_allclose(elbo, -model.elbo(x, seed=0, labels=y).numpy(), rtol=1e-5)
    assert model.anomaly_score(x, score="sample_knn").shape == (12,)
    with pytest.raises(ValueError, match="is not available for conditional models"):
        model.anomaly_score(x, score="typicality", reference=x)
    with pytest.raises(ValueError, match="takes no labels"):
        model.anomaly_score(x, score="sample_knn", labels=y)
    denoised = model.denoise(x, num_steps=3, labels=y).numpy()
    assert denoised.shape == x.shape
    plain = zoo.VAE(input_shape=(28, 28, 1), latent_dim=4, hidden_dims=(16,))
    with pytest.raises(ValueError, match="labels are for conditional models"):
        plain.anomaly_score(x, score="elbo", labels=y)
    walk = zoo.applications.latent_space.interpolate(model, x[0], x[1], steps=4, labels=y[:2])
    np.testing.assert_allclose(walk[0], model.reconstruct(x[:1], labels=y[:1])[0], atol=1e-5)
    sweep = zoo.applications.latent_space.traverse(model, x[0], 0, values=(-1, 1), label="top")
    assert sweep.shape == (2, 28, 28, 1)


def test_conditional_imputation_uses_the_label():
    # A class decides which half holds the ink. Given the right-most columns of a "top"
    # or "bottom" image, the true label fills the rest far better than the other one.
    model = well_trained()
    test_x, test_y = halves(n=30, seed=2)
    keep = test_y < 2
    test_x, test_y = test_x[keep], test_y[keep]
    mask = np.zeros_like(test_x)
    mask[:, :, 20:] = 1  # only the right-most columns are seen
    filled = model.impute(test_x, mask, method="importance", num_iterations=10, num_chains=4,
                          seed=0, labels=test_y).numpy()
    right = np.abs(filled - test_x)[mask == 0].mean()
    swapped = model.impute(test_x, mask, method="importance", num_iterations=10, num_chains=4,
                           seed=0, labels=1 - test_y).numpy()
    assert right < np.abs(swapped - test_x)[mask == 0].mean() - 0.1


def test_the_cli_trains_a_conditional_model_and_samples_chosen_classes(data_dir, tmp_path):
    from zoo import cli

    run = str(tmp_path / "run")
    assert cli.main(["train", "--plot-every", "0",
                     "--dataset", "fashion_mnist", "--data-dir", data_dir, "--split",
                     "train[:256]", "--epochs", "1", "--conditional", "--latent-dim", "4",
                     "--hidden-dims", "32", "--output-dir", run, "--quiet"]) == 0
    model = zoo.load_model(os.path.join(run, "model.keras"))
    assert model.num_classes == 10 and model.class_names[8] == "Bag"
    out = str(tmp_path / "bags.png")
    assert cli.main(["sample", os.path.join(run, "model.keras"), "-n", "6", "--labels", "Bag,Trouser",
                     "-o", out]) == 0
    assert os.path.getsize(out) > 0
    # An unknown class is an error status with the known names, not a crash.
    assert cli.main(["sample", os.path.join(run, "model.keras"), "-n", "6", "--labels", "Shoe",
                     "-o", out]) == 2


def test_the_class_prior_starts_standard_and_is_the_gaussian_of_each_class():
    model = conditional("vae")
    assert model.class_prior and not model.noise_is_latent
    eps = np.random.default_rng(0).normal(size=(6, model.latent_dim)).astype(np.float32)
    ids = np.array([0, 1, 2, 0, 1, 2])
    codes = tf.one_hot(ids, NUM_CLASSES)
    # Zero-initialised: N(0, I) for every class, so a new model starts as M2's.
    np.testing.assert_allclose(model.latent_from_noise(eps, codes), eps)
    loc = np.random.default_rng(1).normal(size=(NUM_CLASSES, model.latent_dim))
    log_scale = np.random.default_rng(2).normal(scale=0.3, size=(NUM_CLASSES, model.latent_dim))
    model.prior_head.kernel.assign(np.concatenate([loc, log_scale], axis=1).astype(np.float32))
    np.testing.assert_allclose(model.latent_from_noise(eps, codes),
                               loc[ids] + np.exp(log_scale[ids]) * eps, rtol=1e-5, atol=1e-6)
    # The ELBO's KL is the closed form against each example's own class Gaussian.
    x, y = halves(n=6)
    posterior = model.encode(x, labels=y)
    expected = tfp_kl(posterior.mean().numpy(), posterior.stddev().numpy(),
                      loc[y], np.exp(log_scale[y]))
    kl = model._elbo_terms(tf.constant(x), seed=[0, 1], y=tf.one_hot(y, NUM_CLASSES)).kl_units
    np.testing.assert_allclose(np.sum(kl, axis=-1), expected, rtol=1e-4)
    # Exported samplers apply it (no shared decode graph): their noise is not the latent.
    assert not model.sampler_spec().noise_is_latent


def tfp_kl(mq, sq, mp, sp):
    """KL(N(mq, sq^2) || N(mp, sp^2)) summed over dimensions, written out."""
    return np.sum(np.log(sp / sq) + (sq ** 2 + (mq - mp) ** 2) / (2 * sp ** 2) - 0.5, axis=-1)


def test_models_saved_before_the_class_prior_load_with_the_standard_prior(tmp_path):
    old = conditional("vae", class_prior=False)
    config = old.get_config()
    del config["class_prior"]  # what a model saved before the option had
    restored = zoo.VAE.from_config(config)
    assert not restored.class_prior and restored.noise_is_latent
    restored.set_weights(old.get_weights())
    x, y = halves(n=4)
    np.testing.assert_allclose(restored.elbo(x, seed=0, labels=y), old.elbo(x, seed=0, labels=y))
    with pytest.raises(ValueError, match="class_prior=True, num_classes=None"):
        zoo.VAE(input_shape=(28, 28, 1), class_prior=True)
