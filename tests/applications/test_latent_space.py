"""Interpolation and traversal in the latent space."""

import numpy as np
import pytest

from tests.families import FAMILIES, binary_images
from zoo.applications import latent_space


def test_slerp_keeps_the_norm_and_hits_the_ends():
    a, b = np.array([3.0, 0.0, 0.0]), np.array([0.0, 3.0, 0.0])
    path = latent_space.slerp(a, b, np.linspace(0, 1, 5))
    np.testing.assert_allclose(path[0], a, atol=1e-12)
    np.testing.assert_allclose(path[-1], b, atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(path, axis=1), 3.0)  # linear would dip to 2.12
    np.testing.assert_allclose(path[2], [3 / np.sqrt(2), 3 / np.sqrt(2), 0.0])
    parallel = latent_space.slerp(a, 2 * a, np.array([0.5]))
    np.testing.assert_allclose(parallel[0], 1.5 * a)


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_interpolation_ends_are_the_reconstructions_for_every_family(name):
    model = FAMILIES[name]()
    x = binary_images(n=2)
    model(x[:1])
    for method in latent_space.METHODS:
        path = np.asarray(latent_space.interpolate(model, x[0], x[1], steps=5, method=method))
        assert path.shape == (5, 28, 28, 1)
        np.testing.assert_allclose(path[[0, -1]], np.asarray(model.reconstruct(x)), atol=1e-5)
    assert np.asarray(model.latent_code(x)).shape == (2, model.noise_dim)


def test_a_traversal_moves_one_unit_and_passes_through_the_reconstruction(builtin_preset):
    model = builtin_preset("vae_mnist")
    x = binary_images(n=1)
    code = np.asarray(model.latent_code(x))[0]
    values = [-3.0, float(code[5]), 3.0]
    frames = np.asarray(latent_space.traverse(model, x[0], unit=5, values=values))
    np.testing.assert_allclose(frames[1], np.asarray(model.reconstruct(x))[0], atol=1e-5)
    assert np.abs(frames[0] - frames[2]).max() > 0.05  # the unit does something


@pytest.mark.parametrize("call,fragment", [
    (lambda m, x: latent_space.interpolate(m, x[0], x[1], method="cubic"), "method must be one of"),
    (lambda m, x: latent_space.interpolate(m, x[0], x[1], steps=1), "steps must be at least 2"),
    (lambda m, x: latent_space.traverse(m, x[0], unit=99), r"unit must be an integer in \[0, 8\)"),
    (lambda m, x: latent_space.traverse(m, x[0], unit=0, values=[np.nan]), "values must be a non-empty"),
])
def test_bad_latent_space_input_is_named(call, fragment):
    model = FAMILIES["VAE-mlp"]()
    x = binary_images(n=2)
    with pytest.raises(ValueError, match=fragment):
        call(model, x)
