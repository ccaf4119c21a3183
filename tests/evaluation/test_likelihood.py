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
