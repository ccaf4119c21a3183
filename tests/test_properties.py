"""Property-based tests (hypothesis) of the numeric entry points.

Each property holds for every input hypothesis generates: valid input gives finite
results with the documented shape and range; invalid input gives a ValueError or
TypeError naming the argument, never another exception, a hang or NaN output.
Examples are few (TensorFlow calls are slow) but drawn to hit the edges: NaN, inf,
huge and tiny values, one-example batches.
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import zoo
from tests.families import FAMILIES
from zoo import distributions, likelihoods, validation
from zoo.applications import anomaly

SETTINGS = settings(max_examples=25, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])
FLOATS = st.floats(allow_nan=True, allow_infinity=True, width=32)


@pytest.fixture(scope="module")
def model():
    m = FAMILIES["VAE-mlp"]()
    m(np.zeros((1, 28, 28, 1), np.float32))
    return m


@SETTINGS
@given(x=hnp.arrays(np.float32, hnp.array_shapes(min_dims=1, max_dims=4, max_side=5), elements=FLOATS))
def test_check_data_accepts_valid_batches_and_names_everything_else(x):
    event_shape = (3,)
    try:
        out = validation.check_data("x", x, event_shape, support="unit_interval")
    except (ValueError, TypeError) as err:
        assert str(err).startswith("x ") or "x." in str(err) or "x must" in str(err), str(err)
        return
    values = np.asarray(out)
    assert values.shape == x.shape and x.ndim == 2 and x.shape[1] == 3 and len(x) >= 1
    assert np.all(np.isfinite(values)) and values.min() >= 0 and values.max() <= 1


@pytest.fixture(scope="module")
def gaussian_model():
    return zoo.VAE(input_shape=(3,), latent_dim=2, hidden_dims=(8,), likelihood="gaussian", seed=0)


@SETTINGS
@given(batch=st.integers(1, 4), fill=st.floats(0, 1), data=st.data())
def test_elbo_of_any_valid_batch_is_finite_and_non_positive(model, batch, fill, data):
    x = data.draw(hnp.arrays(np.float32, (batch, 28, 28, 1),
                             elements=st.floats(0, 1, width=32), fill=st.just(np.float32(fill))))
    elbo = np.asarray(model.elbo(x, seed=0))
    # For a Bernoulli likelihood log p(x|z) <= 0 on [0, 1] data and KL >= 0.
    assert elbo.shape == (batch,) and np.all(np.isfinite(elbo)) and np.all(elbo <= 1e-3)


@SETTINGS
@given(eps=hnp.arrays(np.float32, st.tuples(st.integers(1, 4), st.just(8)),
                      elements=st.floats(-1e6, 1e6, width=32)))
def test_samples_from_any_finite_noise_are_probabilities(model, eps):
    samples = np.asarray(model.sample_from_noise(eps))
    assert samples.shape == (len(eps), 28, 28, 1)
    assert np.all(np.isfinite(samples)) and samples.min() >= 0 and samples.max() <= 1


@SETTINGS
@given(eps=hnp.arrays(np.float32, st.tuples(st.integers(1, 3), st.integers(1, 12)), elements=FLOATS))
def test_noise_of_the_wrong_width_or_non_finite_is_refused_by_name(model, eps):
    if eps.shape[1] == model.noise_dim and np.all(np.isfinite(eps)):
        return
    with pytest.raises(ValueError, match="eps must"):
        model.sample_from_noise(eps)


@SETTINGS
@given(loc=st.floats(-3, 4), log_scale=st.floats(-7, 3), bins=st.integers(2, 300))
def test_discretized_logistic_probabilities_sum_to_one(loc, log_scale, bins):
    dist = distributions.DiscretizedLogistic(np.float32(loc), np.float32(np.exp(log_scale)), bins)
    levels = np.arange(bins, dtype=np.float32) / (bins - 1)
    total = float(np.exp(np.asarray(dist.log_prob(levels), np.float64)).sum())
    assert abs(total - 1.0) < 1e-4, total


@SETTINGS
@given(params=hnp.arrays(np.float32, (2, 3, 4), elements=st.floats(-50, 50, width=32)),
       codes=st.tuples(st.integers(0, 3), st.integers(0, 2)))
def test_tabular_log_prob_is_finite_for_any_decoder_output(params, codes):
    layer = likelihoods.Tabular([0.0, 0.0, 5.0], [1.0, 1.0, 2.0], categorical={0: 4, 1: 3})
    layer.build((3,))
    x = np.array([[codes[0], codes[1], 4.0], [0, 0, -1e3]], np.float32)
    log_p = np.asarray(layer.distribution(params).log_prob(x))
    assert log_p.shape == (2,) and np.all(np.isfinite(log_p)) and np.all(log_p[0] <= 10)


@SETTINGS
@given(scores=hnp.arrays(np.float64, st.integers(2, 40), elements=st.floats(-1e9, 1e9)),
       data=st.data())
def test_auroc_is_a_probability_and_flips_with_the_score(scores, data):
    labels = data.draw(hnp.arrays(np.int64, scores.shape, elements=st.integers(0, 1)))
    if labels.min() == labels.max():
        with pytest.raises(ValueError):
            anomaly.auroc(scores, labels)
        return
    a = anomaly.auroc(scores, labels)
    assert 0.0 <= a <= 1.0
    assert a + anomaly.auroc(-scores, labels) == pytest.approx(1.0, abs=1e-12)


@SETTINGS
@given(threshold=st.floats(-10, 10),
       x=hnp.arrays(np.float32, (4, 3), elements=st.floats(-1e6, 1e6, width=32)))
def test_impute_keeps_observed_values_and_never_returns_nan(gaussian_model, threshold, x):
    model = gaussian_model
    mask = x > threshold
    # Missing entries hold NaN: they must never be read.
    out = np.asarray(model.impute(np.where(mask, x, np.nan), mask, num_iterations=2, num_chains=2,
                                  seed=0))
    assert np.all(np.isfinite(out))
    np.testing.assert_array_equal(out[mask], x[mask])
