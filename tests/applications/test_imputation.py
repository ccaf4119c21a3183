"""model.impute: observed entries kept exactly, missing ones filled from the model."""

import numpy as np
import pytest
import tensorflow as tf

import zoo
from tests.families import FAMILIES, binary_images
from zoo.applications import imputation

#: The methods for a model whose encoder never saw a missing entry ("posterior" refuses it).
IMAGE_METHODS = [m for m in imputation.METHODS if m != "posterior"]


@pytest.fixture(scope="module")
def mnist_test_and_mean(data_dir):
    # 25 images, ~9,800 hidden pixels: the error ratios below are 0.36-0.38 against a
    # bound of 0.5, as with 50 (0.36-0.37), at half the cost of the chains.
    test = next(iter(zoo.data.load("mnist", "test[:25]", data_dir=data_dir, batch_size=25,
                                   binarize="static", seed=0))).numpy()
    train = next(iter(zoo.data.load("mnist", "train[:5000]", data_dir=data_dir, batch_size=5000,
                                    binarize="static", seed=0))).numpy()
    return test, train.mean(axis=0, keepdims=True)


@pytest.fixture
def digit_model(builtin_preset):
    """The MNIST preset, shared: these tests only read it."""
    return builtin_preset("vae_mnist")


@pytest.mark.parametrize("method", IMAGE_METHODS)
def test_the_trained_vae_fills_hidden_pixels_better_than_the_mean(mnist_test_and_mean,
                                                                  digit_model, method):
    test, pixel_mean = mnist_test_and_mean
    model = digit_model
    mask = (np.random.default_rng(0).uniform(size=test.shape) >= 0.5).astype(np.float32)
    hidden = mask == 0
    out = np.asarray(model.impute(np.where(mask == 1, test, np.nan), mask, num_iterations=20,
                                  num_chains=2, method=method, seed=0))
    np.testing.assert_array_equal(out[~hidden], test[~hidden])  # observed: untouched, bit for bit
    # Squared error: the criterion the default output, an estimate of E[x_mis | x_obs], minimises.
    model_error = np.square(out - test)[hidden].mean()
    mean_error = np.square(np.where(hidden, pixel_mean, test) - test)[hidden].mean()
    # Measured with 8 chains: 0.0283 (pseudo-Gibbs), 0.0281 (MwG), against 0.0821 for the mean.
    # (importance: 0.0288 on the first 200 images, pseudo-Gibbs 0.0282 there.) Here, 2 chains
    # on 25 images: 0.029-0.031 against 0.081.
    assert model_error < 0.5 * mean_error, (model_error, mean_error)
    # "importance" resamples its draws from 2 proposals per chain, not the default 16:
    # what is checked here is what a draw is, not how good the estimate is (above).
    samples = np.asarray(model.impute(test, mask, num_iterations=5, method=method, num_chains=3,
                                      seed=0, return_samples=True,
                                      num_samples=6 if method == "importance" else None))
    assert samples.shape == (3, *test.shape)  # one draw per chain
    assert set(np.unique(samples[:, hidden])) <= {0.0, 1.0}  # Bernoulli draws
    np.testing.assert_array_equal(samples[:, ~hidden], np.broadcast_to(test[~hidden], (3, int((~hidden).sum()))))
    assert np.mean(samples[0][hidden] != samples[1][hidden]) > 0.01  # the chains are independent


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_every_family_imputes(name):
    model = FAMILIES[name]()
    x = binary_images(n=8)
    model(x[:1])
    mask = np.random.default_rng(0).uniform(size=x.shape) < 0.5
    for method in IMAGE_METHODS:
        # 2 chains, not the default 8: the graphs are the same (the count is a tensor), and
        # tracing them, not running them, is what a family costs here.
        out = np.asarray(model.impute(x, mask, num_iterations=3, method=method, num_chains=2,
                                      seed=1))
        assert out.shape == x.shape and np.all(np.isfinite(out))
        np.testing.assert_array_equal(out[mask], x[mask])
        assert np.all((out >= 0) & (out <= 1))
    again = np.asarray(model.impute(x, mask, num_iterations=3, seed=1))
    np.testing.assert_array_equal(again, np.asarray(model.impute(x, mask, num_iterations=3, seed=1)))


def test_metropolis_accepts_with_the_weight_ratio():
    # log w' - log w = log 0.3: accepted with probability 0.3; 20,000 draws give a
    # standard error of 0.0032, the bound is 4 of them.
    n = 20000
    accept = imputation.metropolis_accept(tf.fill([n], np.float32(np.log(0.3))), tf.zeros([n]), seed=[1, 2])
    assert abs(float(tf.reduce_mean(tf.cast(accept, tf.float32))) - 0.3) < 0.013
    always = imputation.metropolis_accept(tf.zeros([10]), tf.fill([10], np.float32(-np.inf)), seed=[1, 2])
    assert bool(tf.reduce_all(always))


def test_importance_weights_recover_a_known_conditional_mean():
    # Target p(z) = N(1, 1) (playing p(x_obs|z) p(z)), proposals from the equal mixture
    # of N(-1, 2) and N(3, 2). The self-normalised estimate of E[z] must be 1; with
    # 200,000 draws its standard error is ~0.004, the bound is 5 of them.
    rng = np.random.default_rng(0)
    n = 200_000
    z = np.where(rng.uniform(size=n) < 0.5, rng.normal(-1, 2, n), rng.normal(3, 2, n))[:, None]
    from scipy import stats
    log_target = stats.norm(1, 1).logpdf(z)
    prior = stats.norm(0, 1).logpdf(z)  # log p(z): the ratios are log p(z) - log q_c(z)
    ratios = np.stack([prior - stats.norm(-1, 2).logpdf(z), prior - stats.norm(3, 2).logpdf(z)])
    log_w = imputation.mixture_log_weights(tf.constant(log_target - prior, tf.float64),
                                           tf.constant(ratios, tf.float64))
    mixture = np.log(0.5 * stats.norm(-1, 2).pdf(z) + 0.5 * stats.norm(3, 2).pdf(z))
    np.testing.assert_allclose(log_w, log_target - mixture, rtol=1e-9, atol=1e-9)
    estimate = np.asarray(imputation.importance_weighted_mean(log_w, tf.constant(z[..., None]))).item()
    assert abs(estimate - 1.0) < 0.02, estimate


@pytest.mark.parametrize("kwargs,error,fragment", [
    (dict(mask=np.ones((2, 28, 28))), ValueError, r"mask must have shape \[batch, 28, 28, 1\]"),
    (dict(mask=np.full((2, 28, 28, 1), 2.0)), ValueError, "mask must hold only 0 .* Received: values"),
    (dict(mask="all"), TypeError, "mask must be an array of 0/1"),
    (dict(mask=np.ones((3, 28, 28, 1))), ValueError, "mask must have the shape of x"),
    (dict(method="em"), ValueError, "method must be one of"),
    (dict(num_iterations=0), ValueError, "num_iterations must be positive"),
    (dict(num_chains=0), ValueError, "num_chains must be positive"),
    (dict(method="importance", num_chains=4, num_samples=3), ValueError, "num_samples must be at least"),
    (dict(num_samples=0), ValueError, "num_samples must be positive"),
    (dict(method="posterior"), ValueError, "needs a model trained with missing entries"),
])
def test_bad_imputation_input_is_named(kwargs, error, fragment):
    model = FAMILIES["VAE-mlp"]()
    x = binary_images(n=2)
    args = dict(mask=np.ones_like(x), num_iterations=2)
    args.update(kwargs)
    with pytest.raises(error, match=fragment):
        model.impute(x, **args)


def test_a_colour_model_takes_a_mask_of_whole_pixels():
    from zoo import likelihoods

    model = zoo.VAE(input_shape=(6, 6, 3), latent_dim=2, network="conv", hidden_dims=(8,),
                    likelihood=likelihoods.DiscretizedLogisticMixture(2), seed=0)
    rng = np.random.default_rng(0)
    x = (rng.integers(0, 256, (3, 6, 6, 3)) / 255.0).astype(np.float32)
    pixels = rng.uniform(size=(3, 6, 6)) >= 0.5
    channels = np.repeat(pixels[..., None], 3, axis=-1)
    expected = np.asarray(model.impute(x, channels, num_iterations=3, num_chains=2, seed=0))
    for mask in (pixels, pixels[..., None].astype(np.float32)):
        got = np.asarray(model.impute(x, mask, num_iterations=3, num_chains=2, seed=0))
        np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(expected[channels], x[channels])
    assert not np.allclose(expected[~channels], x[~channels])  # the missing pixels are filled
    # A mask of single channels is used as given: red hidden alone differs from whole pixels.
    red = channels.copy()
    red[..., 1:] = True
    assert not np.array_equal(np.asarray(model.impute(x, red, num_iterations=3, num_chains=2,
                                                      seed=0)), expected)
    with pytest.raises(ValueError, match=r"mask must have shape \[batch, 6, 6, 3\]"):
        model.impute(x, pixels[..., :5], num_iterations=3)
