"""model.denoise: a MAP fit of the latent code under a noise model."""

import numpy as np
import pytest

import zoo
from zoo.applications import denoising
from tests.families import FAMILIES, binary_images


def _psnr(estimate, clean):
    mse = np.mean(np.reshape((estimate - clean) ** 2, (len(clean), -1)), axis=1)
    return float(np.mean(10.0 * np.log10(1.0 / mse)))


@pytest.fixture
def digit_model(builtin_preset):
    """The MNIST preset, shared: these tests only read it."""
    return builtin_preset("vae_mnist")


@pytest.mark.parametrize("kind, noise", [("gaussian", "gaussian"), ("salt_and_pepper", "laplace")])
def test_denoising_beats_the_noisy_input_and_the_plain_reconstruction(data_dir, digit_model,
                                                                       kind, noise):
    clean, _ = zoo.data.load_numpy("mnist", "test[:20]", data_dir=data_dir)
    rng = np.random.default_rng(0)
    if kind == "gaussian":
        noisy = np.clip(clean + 0.3 * rng.standard_normal(clean.shape), 0, 1).astype(np.float32)
    else:
        hit = rng.uniform(size=clean.shape) < 0.3
        noisy = np.where(hit, rng.integers(0, 2, clean.shape), clean).astype(np.float32)
    model = digit_model
    denoised = np.asarray(model.denoise(noisy, noise=noise, noise_scale=0.3, num_steps=100))
    # Measured on 1,000 images with 200 steps (README): 21.0 dB against 13.3 noisy and
    # 12.6 reconstructed (Gaussian 0.3); 22.2 against 8.4 and 11.4 (salt-and-pepper 0.3).
    # Here, 20 images and 100 steps (the fit's cost is per image and step): 21.0 against
    # 13.3 and 12.4; 21.7 against 8.5 and 11.3.
    assert _psnr(denoised, clean) > _psnr(noisy, clean) + 5.0
    assert _psnr(denoised, clean) > _psnr(np.asarray(model.reconstruct(noisy)), clean) + 5.0


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_every_family_denoises_toward_its_own_samples(name):
    # A sample of the model plus noise: denoising must move it back toward the sample.
    model = FAMILIES[name]()
    clean = np.asarray(model.sample(8, seed=0))
    noisy = np.clip(clean + 0.2 * np.random.default_rng(0).standard_normal(clean.shape), 0, 1)
    denoised = np.asarray(model.denoise(noisy.astype(np.float32), noise_scale=0.2, num_steps=50))
    assert denoised.shape == clean.shape and np.all(np.isfinite(denoised))
    assert np.mean((denoised - clean) ** 2) < np.mean((noisy - clean) ** 2)


@pytest.mark.parametrize("kwargs, error, fragment", [
    (dict(noise="poisson"), ValueError, "noise must be one of"),
    (dict(noise_scale=0.0), ValueError, "noise_scale must be > 0"),
    (dict(num_steps=0), ValueError, "num_steps must be positive"),
    (dict(learning_rate=-1.0), ValueError, "learning_rate must be finite"),
    (dict(y=np.full((2, 28, 28, 1), 2.0, np.float32)), ValueError, "[0, 1]"),
    (dict(y=np.zeros((2, 28, 28), np.float32)), ValueError, "y must have shape"),
])
def test_bad_denoising_input_is_named(kwargs, error, fragment):
    model = FAMILIES["VAE-mlp"]()
    args = dict(y=binary_images(n=2), num_steps=2)
    args.update(kwargs)
    with pytest.raises(error) as info:
        model.denoise(**args)
    assert fragment in str(info.value)


def test_denoising_compiles_once_and_each_row_is_fitted_on_its_own():
    model = FAMILIES["VAE-mlp"]()
    clean = np.asarray(model.sample(7, seed=0))
    noisy = np.clip(clean + 0.2 * np.random.default_rng(0).standard_normal(clean.shape), 0, 1)
    noisy = noisy.astype(np.float32)
    denoiser = denoising.Denoiser(model)  # what model.denoise runs, made once per model
    together = np.asarray(denoiser(noisy, noise_scale=0.2, num_steps=20, batch_size=3))
    np.testing.assert_array_equal(
        model.denoise(noisy, noise_scale=0.2, num_steps=20, batch_size=3), together)
    # Batches of 3, 3 and 1 (padded), then again: one trace in all. Before, every batch
    # of every call traced a new graph.
    (fit,) = denoiser.fits.values()
    assert fit._fit.experimental_get_tracing_count() == 1
    again = np.asarray(denoiser(noisy, noise_scale=0.2, num_steps=20, batch_size=3))
    assert fit._fit.experimental_get_tracing_count() == 1
    np.testing.assert_array_equal(again, together)  # the state is reset between calls
    # Another learning rate is the same graph with another value in the optimizer.
    slower = np.asarray(denoiser(noisy, noise_scale=0.2, num_steps=20, batch_size=3,
                                 learning_rate=0.01))
    assert fit._fit.experimental_get_tracing_count() == 1
    assert not np.allclose(slower, together)
    # A row's result does not depend on the rows batched with it.
    alone = np.asarray(denoiser(noisy[4:5], noise_scale=0.2, num_steps=20))
    np.testing.assert_allclose(alone, together[4:5], atol=1e-5)
    # The scratch state is not part of the model.
    assert not any("denoise" in w.path for w in model.weights)
