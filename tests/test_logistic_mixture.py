"""The discretized logistic mixture (PixelCNN++): probabilities against a direct float64
sum over the bins, normalisation over every colour, the edge bins, sampling and the mean,
and the likelihood layer in a model."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from scipy import special

import zoo
from zoo import distributions, likelihoods
from zoo.distributions import DiscretizedLogisticMixture


def _params(rng, batch, channels, k, scale=(0.02, 0.3)):
    return dict(logits=rng.normal(size=(*batch, k)),
                loc=rng.uniform(-0.1, 1.1, (*batch, channels, k)),
                scale=rng.uniform(*scale, (*batch, channels, k)),
                coeffs=rng.uniform(-1, 1, (*batch, channels, k)))


def _direct(p, x, bins):
    """p(x) in float64, bin by bin: the logistic CDF at the bin's edges, the first and
    last bins taking the tails, shifted locations written out per channel."""
    levels = bins - 1
    x = np.round(np.clip(x, 0, 1) * levels) / levels
    weights = special.softmax(p["logits"], axis=-1)
    channels = p["loc"].shape[-2]
    total = 0.0
    for k in range(weights.shape[-1]):
        prob = weights[..., k]
        for c in range(channels):
            a = p["coeffs"][..., :, k]
            mu = p["loc"][..., c, k] + (a[..., 0] * x[..., 0] if c == 1 else 0) + (
                a[..., 1] * x[..., 0] + a[..., 2] * x[..., 1] if c == 2 else 0)
            s = p["scale"][..., c, k]
            cdf = lambda t: special.expit((t - mu) / s)  # noqa: E731
            upper = np.where(x[..., c] >= 1, 1.0, cdf(x[..., c] + 0.5 / levels))
            lower = np.where(x[..., c] <= 0, 0.0, cdf(x[..., c] - 0.5 / levels))
            prob = prob * (upper - lower)
        total = total + prob
    return np.log(total)


@pytest.mark.parametrize("channels", [1, 2, 3])
def test_log_prob_matches_the_direct_sum_over_bins(channels):
    rng = np.random.default_rng(channels)
    p = _params(rng, (64,), channels, k=4)
    x = rng.integers(0, 256, (64, channels)) / 255.0
    x[:8] = 0.0
    x[8:16] = 1.0  # the edge bins, which take the tails
    got = DiscretizedLogisticMixture(**p).log_prob(x.astype(np.float32)).numpy()
    np.testing.assert_allclose(got, _direct(p, x, 256), rtol=2e-4, atol=2e-4)


def test_probabilities_over_every_colour_sum_to_one():
    # 16 levels per channel: all 4,096 colours of a pixel, the channel dependence included.
    rng = np.random.default_rng(0)
    p = _params(rng, (3,), 3, k=5, scale=(0.05, 0.5))
    grid = np.stack(np.meshgrid(*[np.arange(16) / 15.0] * 3, indexing="ij"), -1).reshape(-1, 3)
    dist = DiscretizedLogisticMixture(**p, num_bins=16)
    probs = np.exp(dist.log_prob(grid[:, None, :].astype(np.float32)).numpy())  # [4096, 3]
    np.testing.assert_allclose(probs.sum(axis=0), 1.0, atol=1e-4)
    np.testing.assert_allclose(np.log(probs), _direct(p, grid[:, None, :], 16), atol=2e-4)


def test_one_component_one_channel_is_the_discretized_logistic():
    rng = np.random.default_rng(1)
    loc, scale = rng.uniform(-0.2, 1.2, 200), rng.uniform(0.001, 0.5, 200)
    x = (rng.integers(0, 256, 200) / 255.0).astype(np.float32)
    mixture = DiscretizedLogisticMixture(np.zeros((200, 1)), loc[:, None, None],
                                         scale[:, None, None], np.zeros((200, 1, 1)))
    single = distributions.DiscretizedLogistic(loc, scale)
    np.testing.assert_allclose(mixture.log_prob(x[:, None]).numpy(),
                               single.log_prob(x).numpy(), rtol=1e-4, atol=1e-4)


def test_tails_stay_finite_with_finite_gradients():
    loc = tf.Variable(np.array([[[-3.0]], [[4.0]], [[128 / 255]]], np.float32))
    x = np.array([[1.0], [0.0], [128 / 255]], np.float32)  # far from each location, or sharp
    with tf.GradientTape() as tape:
        log_p = DiscretizedLogisticMixture(np.zeros((3, 1), np.float32), loc,
                                           np.full((3, 1, 1), 1e-4, np.float32),
                                           np.zeros((3, 1, 1), np.float32)).log_prob(x)
    grad = tape.gradient(log_p, loc)
    assert np.all(np.isfinite(log_p.numpy())) and np.all(np.isfinite(grad.numpy()))
    assert log_p.numpy()[2] > -1e-3  # all the mass in the level it sits on


def test_samples_follow_the_probabilities_and_the_mean_matches_them():
    rng = np.random.default_rng(2)
    p = _params(rng, (2,), 3, k=3, scale=(0.05, 0.2))
    dist = DiscretizedLogisticMixture(**{k: v.astype(np.float32) for k, v in p.items()},
                                      num_bins=8)
    draws = dist.sample(40_000, seed=[1, 2]).numpy()  # [n, 2, 3]
    assert set(np.unique(np.round(draws * 7))) <= set(range(8))
    grid = np.stack(np.meshgrid(*[np.arange(8) / 7.0] * 3, indexing="ij"), -1).reshape(-1, 3)
    probs = np.exp(_direct(p, grid[:, None, :], 8))  # [512, 2]
    codes = np.round(draws * 7).astype(int) @ np.array([64, 8, 1])
    for b in range(2):
        freq = np.bincount(codes[:, b], minlength=512) / len(draws)
        assert np.abs(freq - probs[:, b]).max() < 0.012
        exact_mean = (probs[:, b:b + 1] * grid).sum(0)
        # The closed-form mean is exact for red; green and blue plug in red's mean.
        np.testing.assert_allclose(dist.mean().numpy()[b, 0], exact_mean[0], atol=1 / 14)
        np.testing.assert_allclose(dist.mean().numpy()[b], exact_mean, atol=0.08)


def test_clipped_mean_is_within_half_a_level_of_the_discrete_mean():
    loc = np.linspace(-0.3, 1.3, 41, dtype=np.float32)
    for scale in (1e-3, 0.02, 0.3):
        discrete = distributions.DiscretizedLogistic(loc, np.full_like(loc, scale)).mean()
        closed = distributions.clipped_logistic_mean(loc, np.full_like(loc, scale))
        assert np.abs(discrete.numpy() - closed.numpy()).max() <= 0.5 / 255 + 1e-6


def test_observed_channels_prefix_is_the_marginal():
    rng = np.random.default_rng(3)
    p = _params(rng, (5,), 3, k=4)
    dist = DiscretizedLogisticMixture(**{k: v.astype(np.float32) for k, v in p.items()})
    x = (rng.integers(0, 256, (5, 3)) / 255.0).astype(np.float32)
    everything = dist.log_prob_observed(x, np.ones((5, 3), bool)).numpy()
    np.testing.assert_allclose(everything, dist.log_prob(x).numpy(), rtol=1e-6)
    # Red alone: the mixture of the red factors, whatever green and blue hold.
    red = dist.log_prob_observed(x, np.array([[True, False, False]] * 5)).numpy()
    weights = special.softmax(p["logits"], -1)
    cdf = lambda t: special.expit((t - p["loc"][:, 0]) / p["scale"][:, 0])  # noqa: E731
    r = x[:, :1].astype(np.float64)
    upper = np.where(r >= 1, 1.0, cdf(r + 0.5 / 255))
    lower = np.where(r <= 0, 0.0, cdf(r - 0.5 / 255))
    np.testing.assert_allclose(red, np.log((weights * (upper - lower)).sum(-1)), rtol=2e-4)


def test_layer_builds_images_only_and_serializes():
    with pytest.raises(ValueError, match=r"input_shape=\(784,\)"):
        likelihoods.DiscretizedLogisticMixture().build((784,))
    with pytest.raises(ValueError, match="num_components=0"):
        likelihoods.DiscretizedLogisticMixture(num_components=0)
    layer = likelihoods.get("discretized_logistic_mixture")
    assert layer.num_params == 20
    restored = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(likelihoods.DiscretizedLogisticMixture(3)))
    assert restored.num_components == 3 and restored.num_params == 12


def test_the_log_scale_stays_between_its_bounds_and_the_log_probability_stays_finite():
    # A diverging step once sent raw log-scales to ~25 (scales of 1e11): float32 could no
    # longer tell the CDF on either side of a bin apart, log p was -inf and training
    # stopped. The ceiling keeps every raw output's log p finite, and the bounds are soft:
    # the gradient is not cut at either.
    layer = likelihoods.DiscretizedLogisticMixture(2)
    layer.build((2, 2, 3))
    raw = tf.constant([-1e4, -30.0, -4.0, 0.0, 4.0, 30.0, 1e4])
    with tf.GradientTape() as tape:
        tape.watch(raw)
        log_scale = layer.log_scale(raw)
    gradient = tape.gradient(log_scale, raw).numpy()
    log_scale = log_scale.numpy()
    assert np.all(log_scale >= layer.min_log_scale - 1e-3) and np.all(log_scale <= layer.max_log_scale)
    # Increasing, and strictly so (a gradient) where float32 does not saturate.
    assert np.all(np.diff(log_scale) >= 0) and np.all(gradient[2:-2] > 0.01), gradient
    assert abs(layer.log_scale(tf.constant(0.0)).numpy() - layer.initial_log_scale) < 0.02
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (4, 2, 2, 3)).astype(np.float32) / 255.0
    for extreme in (-1e4, -30.0, 30.0, 1e4):  # every decoder output at once
        params = np.full((4, 2, 2, 3, layer.num_params), extreme, np.float32)
        log_p = layer.distribution(params).log_prob(x).numpy()
        assert np.all(np.isfinite(log_p)), (extreme, log_p)
    with pytest.raises(ValueError, match="initial_log_scale must lie between"):
        likelihoods.DiscretizedLogisticMixture(initial_log_scale=2.0)
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(
        likelihoods.DiscretizedLogisticMixture(max_log_scale=0.5)))
    assert restored.max_log_scale == 0.5


def test_one_logistic_per_entry_keeps_its_log_scale_in_bounds_too():
    layer = likelihoods.DiscretizedLogistic(max_log_scale=0.5)
    layer.build((2, 3))
    x = np.random.default_rng(0).integers(0, 256, (3, 2, 3)).astype(np.float32) / 255.0
    for extreme in (-1e4, 1e4):
        params = np.full((3, 2, 3, 2), extreme, np.float32)
        assert np.all(np.isfinite(layer.distribution(params).log_prob(x).numpy())), extreme
    with pytest.raises(ValueError, match="max_log_scale must be above min_log_scale"):
        likelihoods.DiscretizedLogistic(max_log_scale=-8.0)
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert restored.max_log_scale == 0.5


def test_a_colour_vae_with_the_mixture_learns(tmp_path):
    rng = np.random.default_rng(0)
    # Two colours with noise: a few components fit them, one logistic per channel less so.
    base = np.array([[200, 40, 40], [30, 90, 220]], np.uint8)[rng.integers(0, 2, 512)]
    x = np.clip(base[:, None, None, :] + rng.integers(-6, 7, (512, 8, 8, 3)), 0, 255)
    x = x.astype(np.uint8)
    model = zoo.VAE(input_shape=(8, 8, 3), latent_dim=4, network="conv", hidden_dims=(16,),
                    likelihood=likelihoods.DiscretizedLogisticMixture(3), seed=0)
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    before = float(np.mean(-model.elbo(x[:128])))
    model.fit(x, epochs=15, batch_size=64, verbose=0)
    after = float(np.mean(-model.elbo(x[:128])))
    # Well under the 5.55 nats a dimension of a uniform guess over 256 levels.
    assert after < 0.65 * before and after < 0.7 * 8 * 8 * 3 * np.log(256)
    samples = model.sample(4, seed=1)
    assert samples.shape == (4, 8, 8, 3)
    path = str(tmp_path / "m.keras")
    model.save(path)
    again = keras.saving.load_model(path)
    np.testing.assert_allclose(again.elbo(x[:16], seed=3), model.elbo(x[:16], seed=3), rtol=1e-5)


def test_colour_models_impute_masked_pixels_and_score_anomalies():
    rng = np.random.default_rng(1)
    x = rng.integers(0, 256, (6, 8, 8, 3)).astype(np.float32) / 255.0
    model = zoo.VAE(input_shape=(8, 8, 3), latent_dim=3, network="conv", hidden_dims=(8,),
                    likelihood=likelihoods.DiscretizedLogisticMixture(2), seed=0)
    # Whole pixels missing (the mask repeated over the channels), where the mixture's
    # observed-pixel likelihood is exact.
    mask = np.repeat(rng.uniform(size=(6, 8, 8, 1)) > 0.3, 3, axis=-1)
    filled = np.asarray(model.impute(x, mask=mask.astype(np.float32), num_iterations=3, seed=0))
    assert filled.shape == x.shape and np.all(np.isfinite(filled))
    np.testing.assert_array_equal(filled[mask], x[mask])
    assert filled.min() >= 0.0 and filled.max() <= 1.0
    scores = np.asarray(model.anomaly_score(x))
    assert scores.shape == (6,) and np.all(np.isfinite(scores))
