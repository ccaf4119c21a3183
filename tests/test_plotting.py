"""Plots: the numbers behind them and the files they write."""

import matplotlib.image
import numpy as np
import pytest

import zoo
from tests.families import FAMILIES, binary_images
from zoo import plotting


def test_project_2d_keeps_low_dimensions_and_finds_the_principal_axes():
    codes = np.random.default_rng(0).normal(size=(500, 2))
    np.testing.assert_array_equal(plotting.project_2d(codes), codes)
    assert plotting.project_2d(codes[:, :1]).shape == (500, 2)
    # 5-D codes spread along one direction: the first projected axis carries that spread.
    rng = np.random.default_rng(1)
    direction = np.array([1.0, 2.0, 0.0, -1.0, 0.5]) / np.sqrt(6.25)
    wide = rng.normal(size=(500, 1)) * 10.0 * direction + rng.normal(size=(500, 5)) * 0.1
    points = plotting.project_2d(wide)
    assert abs(np.std(points[:, 0]) - 10.0) < 1.0 and np.std(points[:, 1]) < 0.2
    np.testing.assert_allclose(points.mean(axis=0), 0.0, atol=1e-9)


def test_kl_per_dimension_is_the_mean_of_elbo_terms():
    model = FAMILIES["VAE-mlp"]()
    x = binary_images(n=12)
    kl = plotting.kl_per_dimension(model, x, seed=3, batch_size=5)
    # Batches of 5, 5, 2 give the same mean as one batch (closed-form KL: no sampling).
    expected = np.asarray(model.elbo_terms(x, seed=3)["kl_dims"]).mean(axis=0)
    np.testing.assert_allclose(kl, expected, rtol=1e-5)
    assert kl.shape == (model.noise_dim,) and np.all(kl >= 0)
    with pytest.raises(ValueError, match="x must contain at least one example"):
        plotting.kl_per_dimension(model, x[:0])


def test_a_flow_prior_has_no_kl_per_dimension_to_plot_or_rank_by():
    # Its KL against a non-factorised prior comes as one total column: a "per
    # dimension" bar chart of it would be one bar, and ranking units by it picks unit 0.
    model = FAMILIES["FlowPriorVAE-realnvp"]()
    x = binary_images(n=4)
    assert np.asarray(model.elbo_terms(x, seed=0)["kl_dims"]).shape == (4, 1)
    with pytest.raises(ValueError, match="does not split by latent dimension.*FlowPriorVAE"):
        plotting.kl_per_dimension(model, x)
    rows, units = plotting.traversal_rows(model, x[0], num_units=3, values=(0, 1))
    assert units == [0, 1, 2] and rows.shape == (6, 28, 28, 1)


def test_traversal_rows_default_to_the_units_with_most_kl(builtin_preset):
    model = builtin_preset("vae_mnist")
    x = binary_images(n=1)[0]
    rows, units = plotting.traversal_rows(model, x, num_units=3, values=(-2, 0, 2))
    kl = np.asarray(model.elbo_terms(x[None], seed=0)["kl_dims"])[0]
    assert units == [int(u) for u in np.argsort(-kl)[:3]]
    assert rows.shape == (9, 28, 28, 1)


def test_figures_render_to_pixels_and_files(tmp_path):
    kl = np.array([2.0, 0.5, 0.001, 0.0])
    pixels = plotting.figure_to_array(plotting.kl_figure(kl))
    assert pixels.ndim == 3 and pixels.shape[-1] == 3 and 0 <= pixels.min() and pixels.max() <= 1
    codes = np.random.default_rng(0).normal(size=(100, 8))
    path = plotting.save_figure(plotting.latent_map_figure(codes, np.arange(100) % 10),
                                str(tmp_path / "map.png"))
    assert matplotlib.image.imread(path).shape[0] > 100
    rows = plotting.reconstruction_rows(FAMILIES["VAE-mlp"](), binary_images(n=3))
    assert rows.shape == (6, 28, 28, 1)


def test_which_plots_apply_depends_on_the_data_and_the_prior():
    everything = plotting.PLOT_KINDS
    assert plotting.applicable_plots(FAMILIES["VAE-conv"]()) == everything
    assert plotting.applicable_plots(FAMILIES["HVAE-conv"]()) == everything
    assert plotting.applicable_plots(FAMILIES["FlowPriorVAE-maf"]()) == tuple(
        kind for kind in everything if kind != "kl")
    tabular = zoo.VAE(input_shape=(5,), latent_dim=2, hidden_dims=(8,), likelihood="gaussian")
    assert plotting.applicable_plots(tabular) == ("latent_map", "kl")


def test_plots_that_do_not_apply_are_refused_with_the_reason():
    tabular = zoo.VAE(input_shape=(5,), latent_dim=2, hidden_dims=(8,), likelihood="gaussian")
    assert plotting.check_plot_kinds(tabular, ["kl"]) == ("kl",)
    with pytest.raises(ValueError, match=r"samples, traversals need image data; this model's "
                                         r"data has shape \[5\].*Received: kinds=\['samples', "
                                         r"'kl', 'traversals'\]"):
        plotting.check_plot_kinds(tabular, ["samples", "kl", "traversals"])
    with pytest.raises(ValueError, match="kl needs a KL that splits by latent dimension, which a "
                                         "FlowPriorVAE's does not"):
        plotting.check_plot_kinds(FAMILIES["FlowPriorVAE-realnvp"](), ["samples", "kl"])
    with pytest.raises(ValueError, match=r"kinds must be among .*Received: kinds=\['kl_per_dim'\]"):
        plotting.check_plot_kinds(tabular, ["kl_per_dim"])


def test_the_training_callback_plots_a_hierarchy_like_any_image_model(tmp_path):
    from zoo import training

    model = FAMILIES["HVAE-conv"]()
    callback = training.TrainingPlots(str(tmp_path), binary_images(n=16), num_samples=4)
    callback.set_model(model)
    plots = callback.plots()
    assert set(plots) == {"samples", "reconstructions", "interpolations", "traversals",
                          "kl_per_dimension", "latent_map"}
    # 8 units of the flattened hierarchy (all its groups), 7 values each, 29-pixel tiles.
    assert plots["traversals"].shape[:2] == (8 * 29 + 1, 7 * 29 + 1)
