"""Likelihood layers against scipy, and their serialization."""

import keras
import numpy as np
import pytest
from scipy import stats

from zoo import likelihoods


def _params(shape, num_params, seed=0):
    return np.random.default_rng(seed).normal(size=(*shape, num_params)).astype(np.float32)


def test_bernoulli_log_prob_is_the_summed_binary_cross_entropy():
    layer = likelihoods.get("bernoulli")
    layer.build((4, 3))
    params = _params((2, 4, 3), 1)
    x = (np.random.default_rng(1).uniform(size=(2, 4, 3)) > 0.5).astype(np.float32)
    dist = layer.distribution(params)
    assert dist.batch_shape == (2,) and dist.event_shape == (4, 3)
    p = 1 / (1 + np.exp(-params[..., 0].astype(np.float64)))
    expected = stats.bernoulli(p).logpmf(x).sum(axis=(1, 2))
    np.testing.assert_allclose(dist.log_prob(x), expected, rtol=1e-5)
    np.testing.assert_allclose(dist.mean(), p, rtol=1e-5)


@pytest.mark.parametrize("mode", ["shared", "predicted"])
def test_gaussian_log_prob_matches_scipy(mode):
    layer = likelihoods.Gaussian(scale=mode)
    layer.build((5,))
    params = _params((3, 5), layer.num_params)
    x = np.random.default_rng(2).normal(size=(3, 5)).astype(np.float32)
    dist = layer.distribution(params)
    if mode == "shared":
        scale = np.log1p(np.exp(np.asarray(layer.raw_scale, np.float64))) + 1e-3
        assert len(layer.trainable_weights) == 1  # the learned scale is a trained weight
    else:
        scale = np.log1p(np.exp(params[..., 1].astype(np.float64))) + 1e-3
    expected = stats.norm(params[..., 0], scale).logpdf(x).sum(axis=-1)
    np.testing.assert_allclose(dist.log_prob(x), expected, rtol=1e-5)


def test_discretized_logistic_layer_clamps_log_scale_and_scores_pixels():
    layer = likelihoods.DiscretizedLogistic(min_log_scale=-5.0)
    layer.build((2,))
    params = np.array([[[0.5, -20.0], [0.1, 0.0]]], np.float32)  # log-scale below the floor
    dist = layer.distribution(params)
    assert np.isclose(float(dist.distribution.scale[0, 0]), np.exp(-5.0))
    x = np.array([[128 / 255, 0.0]], np.float32)
    assert np.all(np.isfinite(dist.log_prob(x)))


@pytest.mark.parametrize("name", ["bernoulli", "gaussian", "discretized_logistic"])
def test_likelihoods_serialize(name):
    layer = likelihoods.get(name)
    config = keras.saving.serialize_keras_object(layer)
    clone = likelihoods.get(config)
    assert type(clone) is type(layer) and clone.get_config() == layer.get_config()


@pytest.mark.parametrize("kwargs,fragment", [
    (dict(scale="learned"), "scale must be one of"),
    (dict(min_scale=0.0), "min_scale must be > 0"),
])
def test_gaussian_bad_arguments(kwargs, fragment):
    with pytest.raises(ValueError, match=fragment):
        likelihoods.Gaussian(**kwargs)
