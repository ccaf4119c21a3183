"""zoo.evaluate: figures consistent with the model's own methods."""

import numpy as np
import pytest
import tensorflow as tf

import zoo
from zoo import evaluation


def _model_and_data(mnist_small):
    x_train, _, x_test, _ = mnist_small
    model = zoo.VAE(input_shape=(28, 28, 1), latent_dim=6, hidden_dims=(128,), seed=0)
    model.compile(optimizer="adam")
    model.fit(x_train, batch_size=64, epochs=2, verbose=0)
    return model, x_test[:120]


def test_evaluate_agrees_with_the_model_methods(mnist_small):
    model, x = _model_and_data(mnist_small)
    ds = tf.data.Dataset.from_tensor_slices(x).batch(50)  # uneven last batch on purpose
    figures = zoo.evaluate(model, ds, num_samples=100, seed=0)
    assert figures["num_examples"] == 120 and figures["num_samples"] == 100
    assert figures["elbo"] == pytest.approx(-(figures["reconstruction"] + figures["kl"]), rel=1e-6)
    # The IW bound is tighter than the ELBO; both estimate the same model on the same data.
    assert -figures["nll"] > figures["elbo"]
    direct = -float(np.mean(model.log_likelihood(x, num_samples=100, seed=9)))
    # Same images, other importance samples: the two k=100 means differ only by
    # importance-sampling noise, well under 1 nat for a trained VAE.
    assert figures["nll"] == pytest.approx(direct, abs=1.0)
    assert figures["bits_per_dim"] == pytest.approx(figures["nll"] / (784 * np.log(2)))
    assert 0 <= figures["active_units"] <= 6 and 0 <= figures["active_units_kl"] <= 6
    assert figures["active_units"] > 0  # two epochs on MNIST use some of the units
    assert "NLL (k=100)" in evaluation.summarize(figures)


def test_max_examples_and_per_unit_kl(mnist_small):
    model, x = _model_and_data(mnist_small)
    ds = tf.data.Dataset.from_tensor_slices((x, np.zeros(len(x)))).batch(32)  # (x, y) batches
    assert zoo.evaluate(model, ds, num_samples=5, max_examples=40)["num_examples"] == 40
    units = evaluation.kl_per_unit(model, ds)
    assert units.shape == (6,) and np.all(units >= 0)
    terms = model.elbo_terms(x[:10], seed=0)
    np.testing.assert_allclose(terms["kl"], np.sum(terms["kl_units"], axis=-1), rtol=1e-5)


def test_a_flow_prior_reports_no_per_dimension_active_units():
    from tests.families import FAMILIES, binary_images

    model = FAMILIES["FlowPriorVAE-realnvp"]()
    x = binary_images(n=6)
    figures = zoo.evaluate(model, [x], num_samples=4)
    # Its KL has no per-dimension split: null, not a count of one "unit".
    assert figures["active_units_kl"] is None and 0 <= figures["active_units"] <= 8
    with pytest.raises(ValueError, match="does not split by latent dimension"):
        evaluation.kl_per_unit(model, [x])


def test_empty_dataset_is_refused(mnist_small):
    model, x = _model_and_data(mnist_small)
    empty = tf.data.Dataset.from_tensor_slices(x).batch(8).take(0)
    with pytest.raises(ValueError, match="empty"):
        zoo.evaluate(model, empty)


def test_an_interrupted_evaluation_resumes_to_the_same_figures(mnist_small, tmp_path):
    model, x = _model_and_data(mnist_small)
    batches = [x[i:i + 20] for i in range(0, 60, 20)]
    full = zoo.evaluate(model, batches, num_samples=8, seed=3)

    def crashing():
        yield batches[0]
        yield batches[1]
        raise KeyboardInterrupt  # killed during the third batch

    progress = str(tmp_path / "eval.npz")
    with pytest.raises(KeyboardInterrupt):
        zoo.evaluate(model, crashing(), num_samples=8, seed=3, progress_path=progress)
    with np.load(progress) as saved:
        assert int(saved["batches"]) == 2
    resumed = zoo.evaluate(model, batches, num_samples=8, seed=3, progress_path=progress)
    for key in full:
        if key != "seconds":
            assert resumed[key] == pytest.approx(full[key], rel=1e-6, abs=1e-6), key
    # Another setting (or model) never reuses the file.
    with pytest.raises(ValueError, match="another model or with other settings"):
        zoo.evaluate(model, batches, num_samples=9, seed=3, progress_path=progress)
    # Nor another precision: its estimates differ from float32's.
    with pytest.raises(ValueError, match="another model or with other settings"):
        zoo.evaluate(model, batches, num_samples=8, seed=3, progress_path=progress,
                     precision="bfloat16")


@pytest.fixture
def preset_and_digits(data_dir, builtin_preset):
    model = builtin_preset("vae_mnist")
    x, _ = zoo.data.load_numpy("mnist", "test[:12]", data_dir=data_dir, binarize="static")
    return model, model.check_input("x", x)


def test_passes_stream_into_the_same_bound_as_one_log_mean_exp(preset_and_digits):
    """The running log-sum-exp over passes equals log-mean-exp over all k log-weights,
    drawn with the passes' own seeds."""
    model, x = preset_and_digits
    estimator = evaluation.ImportanceWeightedEstimator(model)
    seed = tf.constant([4, 2])
    # 12 examples, 48 rows per pass: passes of 4 samples, the last one of 2.
    streamed = estimator(x, num_samples=10, seed=seed, max_rows_per_pass=48).numpy()
    parts = [model.sample_log_weights(x, k, tf.random.experimental.stateless_fold_in(seed, i))
             for i, k in enumerate((4, 4, 2))]
    direct = tfp_logmeanexp(tf.concat(parts, axis=0))
    np.testing.assert_allclose(streamed, direct, rtol=0, atol=1e-4)
    # Memory is bounded, not the result: one big pass gives the same bound in law. Other
    # samples, so only within Monte Carlo noise (a few nats per example at k = 10).
    whole = estimator(x, num_samples=10, seed=seed).numpy()
    assert abs(whole.mean() - streamed.mean()) < 3.0


def tfp_logmeanexp(log_weights):
    import tensorflow_probability as tfp

    return tfp.math.reduce_logmeanexp(log_weights, axis=0).numpy()


def test_bfloat16_networks_move_log_p_far_less_than_monte_carlo_noise(preset_and_digits):
    model, x = preset_and_digits
    exact = evaluation.ImportanceWeightedEstimator(model)(x, 64, seed=1).numpy()
    fast_estimator = evaluation.ImportanceWeightedEstimator(model, precision="bfloat16")
    fast = fast_estimator(x, 64, seed=1).numpy()
    assert fast.dtype == np.float32 and np.all(np.isfinite(fast))
    # Same samples up to bfloat16 rounding of q's parameters: per example within 0.5 nats
    # (the log-likelihood of a digit is about -80), on average within 0.1.
    assert np.max(np.abs(fast - exact)) < 0.5
    assert abs(np.mean(fast - exact)) < 0.1
    # The model's own method is the same estimator.
    np.testing.assert_allclose(model.log_likelihood(x, 64, seed=1, precision="bfloat16"), fast,
                               rtol=0, atol=1e-4)
    # Another draw of the float32 estimate moves by more than bfloat16 does.
    other_draw = evaluation.ImportanceWeightedEstimator(model)(x, 64, seed=2).numpy()
    assert np.mean(np.abs(other_draw - exact)) > np.mean(np.abs(fast - exact))


def test_the_low_precision_copy_follows_the_models_weights(preset_and_digits):
    model, x = preset_and_digits
    clone = zoo.from_preset("vae_mnist")
    estimator = evaluation.ImportanceWeightedEstimator(clone, precision="bfloat16")
    before = estimator(x[:4], 16, seed=0).numpy()
    # Fine-tuning changes the weights after the estimator exists: it must score the new ones.
    clone.set_weights([w * 0.5 for w in clone.get_weights()])
    after = estimator(x[:4], 16, seed=0).numpy()
    fresh = evaluation.ImportanceWeightedEstimator(clone, precision="bfloat16")(x[:4], 16, seed=0)
    np.testing.assert_allclose(after, fresh.numpy(), rtol=0, atol=1e-4)
    assert np.all(np.abs(after - before) > 1.0)


@pytest.mark.parametrize("kwargs, match", [
    (dict(precision="float16"), "precision"),
    (dict(precision=None), "precision"),
    (dict(jit_compile="yes"), "jit_compile"),
])
def test_bad_estimator_options_are_refused_by_name(preset_and_digits, kwargs, match):
    model, _ = preset_and_digits
    with pytest.raises((ValueError, TypeError), match=match):
        evaluation.ImportanceWeightedEstimator(model, **kwargs)


def test_progress_shows_the_running_nll_and_an_eta(preset_and_digits, capsys):
    model, x = preset_and_digits
    data = tf.data.Dataset.from_tensor_slices(x).batch(4)
    figures = zoo.evaluate(model, data, num_samples=4, progress=True)
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    # Not a terminal: one line per 30 s at most, and always the last batch.
    assert lines and "batch 3/3" in lines[-1] and "ETA 0:00:00" in lines[-1]
    assert f"NLL {figures['nll']:.3f}" in lines[-1]
