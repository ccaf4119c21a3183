"""DiscretizedLogistic against scipy's logistic CDF and its own normalisation."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp
from scipy import stats

from zoo.distributions import DiscretizedLogistic, log_prob_between

LEVELS = np.arange(256, dtype=np.float64) / 255.0


def _probabilities(loc, scale):
    dist = DiscretizedLogistic(loc=np.float32(loc), scale=np.float32(scale))
    return np.exp(dist.log_prob(LEVELS.astype(np.float32)).numpy().astype(np.float64))


@pytest.mark.parametrize("loc,scale", [(0.3, 0.05), (0.0, 0.2), (1.2, 0.1), (0.5, 1e-3), (-3.0, 0.5)])
def test_probabilities_match_scipy_logistic_cdf_and_sum_to_one(loc, scale):
    probs = _probabilities(loc, scale)
    cdf = stats.logistic(loc=loc, scale=scale).cdf
    half = 0.5 / 255
    expected = cdf(LEVELS + half) - cdf(LEVELS - half)
    expected[0], expected[-1] = cdf(half), 1.0 - cdf(1.0 - half)  # edge bins take the tails
    # float32 evaluation: each probability is exact to ~1e-6 relative to the largest bin.
    np.testing.assert_allclose(probs, expected, atol=2e-6 * max(1.0, expected.max()))
    assert probs.sum() == pytest.approx(1.0, abs=1e-4)


def test_log_prob_is_finite_with_finite_gradients_in_the_tails():
    loc = tf.Variable([0.0, 1.0, 0.5, 0.5])
    log_scale = tf.Variable([-7.0, -7.0, -7.0, 2.0])
    x = tf.constant([1.0, 0.0, 0.2, 0.9])  # far tails of sharp distributions
    with tf.GradientTape() as tape:
        lp = DiscretizedLogistic(loc=loc, scale=tf.exp(log_scale)).log_prob(x)
    grads = tape.gradient(lp, [loc, log_scale])
    assert np.all(np.isfinite(lp.numpy()))
    assert all(np.all(np.isfinite(g.numpy())) for g in grads)
    # Far left of loc, log sigmoid(u) ~ u: linear in the distance of the bin's upper edge.
    assert lp[2].numpy() == pytest.approx((0.2 + 0.5 / 255 - 0.5) / np.exp(-7.0), rel=1e-3)


def test_log_prob_between_matches_direct_formula_where_that_is_accurate():
    a = np.array([0.3, 2.0, -1.0, 10.0], np.float32)
    b = np.array([-0.3, 1.5, -4.0, 9.0], np.float32)
    direct = np.log(stats.logistic.cdf(a) - stats.logistic.cdf(b))
    np.testing.assert_allclose(log_prob_between(a, b).numpy(), direct, rtol=1e-5)


def test_mean_is_the_exact_expectation_and_samples_lie_on_the_grid():
    loc, scale = np.float32(0.8), np.float32(0.15)
    dist = DiscretizedLogistic(loc=loc, scale=scale)
    exact = float(np.sum(_probabilities(loc, scale) * LEVELS))
    assert float(dist.mean()) == pytest.approx(exact, abs=1e-5)
    samples = dist.sample(20_000, seed=tfp.random.sanitize_seed(0)).numpy()
    np.testing.assert_allclose(samples * 255, np.round(samples * 255), atol=1e-4)
    assert samples.min() >= 0.0 and samples.max() <= 1.0
    # Monte Carlo mean within 5 standard errors of the exact mean.
    assert abs(samples.mean() - exact) < 5 * samples.std() / np.sqrt(len(samples))


def test_batch_shape_broadcasts_and_bad_num_bins_is_rejected():
    dist = DiscretizedLogistic(loc=tf.zeros([2, 3]), scale=tf.ones([3]))
    assert dist.batch_shape == (2, 3) and dist.event_shape == ()
    with pytest.raises(ValueError, match="num_bins"):
        DiscretizedLogistic(loc=0.0, scale=1.0, num_bins=1)
