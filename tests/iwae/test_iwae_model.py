"""zoo.IWAE: the importance-weighted bound as the training objective (the shared harness
runs on it from the registry, tests/test_families.py)."""

import numpy as np
import pytest
import tensorflow as tf

import zoo
from tests.families import binary_images
from zoo import losses
from zoo.iwae.iwae_model import iwae_bound


def _model(**kwargs):
    return zoo.IWAE(input_shape=(28, 28, 1), **{"latent_dim": 6, "hidden_dims": (48,), "seed": 0,
                                                **kwargs})


def test_the_bound_is_the_log_mean_of_the_weights():
    rng = np.random.default_rng(0)
    log_px, log_prior, log_q = (tf.constant(rng.normal(size=(7, 3)) - 3, tf.float32) for _ in range(3))
    log_w = np.asarray(log_px + log_prior - log_q, np.float64)
    expected = np.log(np.mean(np.exp(log_w), axis=0))  # direct, in float64
    np.testing.assert_allclose(iwae_bound(log_px, log_prior, log_q), expected, rtol=1e-5)
    # One sample: the single log-weight, i.e. the one-sample ELBO with a Monte Carlo KL.
    np.testing.assert_allclose(iwae_bound(log_px[:1], log_prior[:1], log_q[:1]), log_w[0], rtol=1e-6)
    # A KL weight scales only the log-ratio.
    half = np.asarray(log_px + 0.5 * (log_prior - log_q), np.float64)
    np.testing.assert_allclose(iwae_bound(log_px, log_prior, log_q, 0.5),
                               np.log(np.mean(np.exp(half), axis=0)), rtol=1e-5)


def test_the_training_loss_is_minus_the_bound_of_the_models_own_weights():
    # Same seed, same draws: the objective is exactly the importance-weighted bound that
    # `log_likelihood` estimates, at k = num_samples.
    model = _model(num_samples=5)
    x = tf.constant(binary_images(n=16))
    seed = tf.constant([4, 2])
    terms = model.objective(x, seed=seed, step=0, training=False)
    bound = losses.importance_weighted_bound(model.sample_log_weights(x, 5, seed))
    assert float(terms["loss"]) == pytest.approx(-float(np.mean(bound)), rel=1e-6)
    assert set(model.objective_terms) <= set(terms)
    elbo_terms = model.elbo_terms(x, seed=0)  # the reported KL is the closed form
    assert float(terms["kl"]) == pytest.approx(float(np.mean(elbo_terms["kl"])), rel=1e-5)


def test_the_bound_is_above_the_elbo_equal_at_one_sample_and_rises_with_k():
    # On the same weights, averaged over 40 seeds: L_1 is the ELBO in expectation (the
    # difference within 5 standard errors), L_5 and L_50 are above it by far more.
    model = _model()
    x = tf.constant(binary_images(n=32))
    model.compile(optimizer="adam")
    model.fit(x, batch_size=16, epochs=2, verbose=0)  # away from the initial weights

    def bound(k):
        return np.stack([-float(model.objective(x, seed=tf.constant([s, k]), step=10**6,
                                                training=False)["loss"]) for s in range(40)])

    model.num_samples = 1
    one = bound(1)
    elbo = np.stack([float(np.mean(model.elbo(x, seed=100 + s))) for s in range(40)])
    stderr = np.sqrt(one.var() / one.size + elbo.var() / elbo.size)
    assert abs(one.mean() - elbo.mean()) < 5 * stderr, (one.mean(), elbo.mean(), stderr)
    model.num_samples = 5
    five = bound(5)
    model.num_samples = 50
    fifty = bound(50)
    assert elbo.mean() + 5 * stderr < five.mean() < fifty.mean(), (elbo.mean(), five.mean(), fifty.mean())


def test_sample_weights_weigh_each_examples_bound():
    model = _model(num_samples=3)
    x = tf.constant(binary_images(n=4))
    seed = tf.constant([1, 1])
    log_w = model.sample_log_weights(x, 3, seed)
    per_example = np.asarray(losses.importance_weighted_bound(log_w))
    terms = model.objective(x, None, np.array([3, 0, 1, 0], np.float32), seed=seed, step=0,
                            training=False)
    assert float(terms["loss"]) == pytest.approx(-(3 * per_example[0] + per_example[2]) / 4, rel=1e-5)


@pytest.mark.parametrize("kwargs,error,fragment", [
    (dict(num_samples=0), ValueError, "num_samples"),
    (dict(num_samples=2.5), TypeError, "num_samples"),
    (dict(free_bits=0.5), ValueError, "free_bits"),
])
def test_bad_arguments_are_named(kwargs, error, fragment):
    with pytest.raises(error, match=fragment):
        _model(**kwargs)


def test_config_keeps_num_samples():
    model = _model(num_samples=7)
    clone = zoo.IWAE.from_config(model.get_config())
    assert clone.num_samples == 7 and isinstance(clone, zoo.VAE)
