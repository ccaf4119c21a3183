"""The objective's terms against closed forms and Monte Carlo estimates."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from zoo import losses

tfd = tfp.distributions


def _diag_normal(loc, scale):
    return tfd.Independent(tfd.Normal(loc, scale), reinterpreted_batch_ndims=1)


def test_gaussian_kl_per_unit_equals_closed_form():
    rng = np.random.default_rng(0)
    loc = rng.normal(size=(5, 4)).astype(np.float32)
    scale = rng.uniform(0.2, 2.0, size=(5, 4)).astype(np.float32)
    prior = _diag_normal(np.zeros(4, np.float32), np.ones(4, np.float32))
    kl = losses.kl_units(_diag_normal(loc, scale), prior).numpy()
    # KL(N(m, s^2) || N(0, 1)) = -log s + (s^2 + m^2) / 2 - 1/2, per dimension.
    closed = -np.log(scale) + (scale**2 + loc**2) / 2 - 0.5
    np.testing.assert_allclose(kl, closed, rtol=1e-5, atol=1e-6)


def test_gaussian_kl_matches_monte_carlo_estimate():
    q = _diag_normal([0.7, -1.2], [0.5, 1.5])
    p = _diag_normal([0.0, 0.0], [1.0, 1.0])
    z = q.sample(200_000, seed=tfp.random.sanitize_seed(3))
    log_ratio = (q.log_prob(z) - p.log_prob(z)).numpy()
    analytic = float(tf.reduce_sum(losses.kl_units(q[None], p)))
    # Five standard errors of the Monte Carlo mean: fails by chance with p < 1e-6.
    tolerance = 5 * log_ratio.std() / np.sqrt(len(log_ratio))
    assert abs(log_ratio.mean() - analytic) < tolerance


def test_kl_falls_back_to_monte_carlo_for_non_gaussian_prior():
    q = _diag_normal(tf.zeros([3, 2]), tf.ones([3, 2]))
    prior = tfd.Independent(tfd.Laplace(tf.zeros(2), tf.ones(2)), reinterpreted_batch_ndims=1)
    z = q.sample(seed=tfp.random.sanitize_seed(1))
    kl = losses.kl_units(q, prior, z)
    assert kl.shape == (3, 1)
    np.testing.assert_allclose(kl[:, 0], q.log_prob(z) - prior.log_prob(z), rtol=1e-6)
    with pytest.raises(ValueError, match="z is required"):
        losses.kl_units(q, prior)


def test_kl_weight_rises_linearly_then_stays_at_beta():
    weights = [float(losses.kl_weight(step, beta=2.0, warmup_steps=4)) for step in range(7)]
    np.testing.assert_allclose(weights, [0.5, 1.0, 1.5, 2.0, 2.0, 2.0, 2.0])
    assert float(losses.kl_weight(0, beta=0.5, warmup_steps=0)) == 0.5


def test_free_bits_floors_each_unit_and_cuts_its_gradient():
    kl = tf.Variable([[0.1, 3.0, 0.4], [0.3, 1.0, 0.6]])  # batch means: 0.2, 2.0, 0.5
    with tf.GradientTape() as tape:
        penalty = losses.kl_penalty(kl, free_bits=0.5)
    # max(0.5, 0.2) + max(0.5, 2.0) + max(0.5, 0.5) = 3.0
    assert float(penalty) == pytest.approx(3.0)
    grad = tape.gradient(penalty, kl).numpy()
    assert np.all(grad[:, 0] == 0.0)  # below the floor: no pressure to shrink further
    np.testing.assert_allclose(grad[:, 1], 0.5)  # above: d mean / d element = 1/batch
    assert float(losses.kl_penalty(kl, free_bits=0.0)) == pytest.approx(2.7)


def test_active_units_counts_units_above_threshold():
    kl = tf.constant([[0.0, 0.02, 1.0], [0.0, 0.0, 1.0]])
    assert float(losses.active_units(kl, threshold=0.005)) == 2.0
    assert float(losses.active_units(kl, threshold=0.01)) == 1.0


def _linear_gaussian_log_weights(x, k, reps, seed):
    """z ~ N(0,1), x|z ~ N(z, 0.5^2); a deliberately mismatched q(z|x) = N(0.5x, 0.6^2).

    Returns log-weights `[k, reps, batch]`: `reps` independent k-sample estimates.
    """
    q = tfd.Normal(0.5 * x, 0.6)
    z = q.sample([k, reps], seed=tfp.random.sanitize_seed(seed))
    return tfd.Normal(z, 0.5).log_prob(x) + tfd.Normal(0.0, 1.0).log_prob(z) - q.log_prob(z)


def test_importance_weighted_bound_is_tight_and_increases_with_k():
    x = tf.constant(np.linspace(-2, 2, 9), tf.float32)
    exact = tfd.Normal(0.0, np.float32(np.sqrt(1.25))).log_prob(x).numpy()  # x ~ N(0, 1.25)
    # Expected bound for each k, averaged over independent repetitions. The repetition
    # counts keep the standard error of each mean below ~0.01 nats, well under the gaps
    # between consecutive k (>= 0.04 nats here).
    reps = {1: 20_000, 10: 4_000, 100: 1_000, 5000: 200}
    estimates = {k: losses.importance_weighted_bound(
        _linear_gaussian_log_weights(x, k, r, seed=k)).numpy() for k, r in reps.items()}
    bounds = {k: e.mean(axis=0) for k, e in estimates.items()}
    assert np.all(bounds[1] < bounds[10]) and np.all(bounds[10] < bounds[100])
    # A lower bound in expectation that converges to log p(x): the gap is O(1/k), far
    # below the Monte Carlo error of the mean, so allow 4 standard errors above.
    stderr = estimates[5000].std(axis=0) / np.sqrt(reps[5000])
    assert np.all(bounds[5000] <= exact + 4 * stderr)
    np.testing.assert_allclose(bounds[5000], exact, atol=5e-3)
    # At k=1 the bound is the ELBO, log p(x) - KL(q || p(z|x)): strictly below.
    assert np.all(exact - bounds[1] > 0.01)


def test_bits_per_dim_converts_nats():
    assert float(losses.bits_per_dim(784 * np.log(2.0), 784)) == pytest.approx(1.0)
