"""zoo.training.metrics.TermMeans: one metric, the same numbers as one keras.metrics.Mean per term."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import zoo
from zoo.training.metrics import TermMeans


def test_matches_one_mean_per_term_with_batch_weights():
    names = ("loss", "kl", "active_units")
    fused = TermMeans(names)
    separate = {n: keras.metrics.Mean(name=n) for n in names}
    rng = np.random.default_rng(0)
    for batch in (128, 128, 17):  # a short last batch weighs less
        terms = {n: tf.constant(rng.normal(), tf.float32) for n in names}
        fused.update_state(terms, sample_weight=float(batch))
        for n in names:
            separate[n].update_state(terms[n], sample_weight=float(batch))
    result = fused.result()
    assert list(result) == list(names)
    for n in names:
        np.testing.assert_allclose(result[n], separate[n].result(), rtol=1e-6)
    fused.reset_state()
    assert all(float(v) == 0.0 for v in fused.result().values())  # no division by zero


def test_bad_names_and_missing_terms():
    with pytest.raises(ValueError, match="names"):
        TermMeans(())
    with pytest.raises(ValueError, match="names"):
        TermMeans(("kl", "kl"))
    with pytest.raises(KeyError, match="reconstruction"):
        TermMeans(("loss", "reconstruction")).update_state({"loss": 1.0})


def test_config_round_trip():
    metric = TermMeans(("a", "b"), name="t")
    clone = TermMeans.from_config(metric.get_config())
    assert clone.names == ("a", "b") and clone.name == "t"


def test_model_logs_each_term_by_name():
    """fit's History and evaluate see every term under its own name, as before the fusion."""
    x = (np.random.default_rng(0).random((64, 6)) > 0.5).astype("float32")
    model = zoo.VAE(input_shape=(6,), latent_dim=2, hidden_dims=(8,), seed=0)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    history = model.fit(x, batch_size=32, epochs=2, verbose=0)
    for key in ("loss", "reconstruction", "kl", "active_units", "skipped_steps"):
        assert len(history.history[key]) == 2, key
    np.testing.assert_allclose(history.history["loss"][-1],
                               history.history["reconstruction"][-1] + history.history["kl"][-1],
                               rtol=1e-5)
    logs = model.evaluate(x, batch_size=32, verbose=0, return_dict=True)
    assert {"loss", "reconstruction", "kl", "active_units"} <= set(logs)
