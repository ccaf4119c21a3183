"""The browser sampler page (`export.web`), run by LiteRT.js in headless Chromium.

The page is served from 127.0.0.1 and driven by Playwright with the system's Chromium;
for every model on it, the grid drawn on the canvas must be what the Python edge sampler
makes of the same noise and labels from the same file. Without Chromium, Playwright or
LiteRT.js (`npm ci --prefix export/web`) the browser tests skip and say which is missing.
"""

import json
import os

import numpy as np
import pytest

import zoo
from export import quantize, web
from export.edge import EdgeSampler
from export.web import browser
from tests.test_conditional import conditional, halves

needs_browser = pytest.mark.skipif(browser.missing() is not None, reason=str(browser.missing()))


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A site with every built-in preset (the shipped files) and a freshly exported
    conditional model (the export path, with labels)."""
    model = conditional("vae")
    x, y = halves()
    model.compile(optimizer="adam")
    model.fit(x, y, batch_size=32, epochs=2, verbose=0)
    keras_file = str(tmp_path_factory.mktemp("model") / "cvae_halves.keras")
    model.save(keras_file)
    out = str(tmp_path_factory.mktemp("site") / "site")
    manifest = web.write_site(out, [*zoo.list_presets(), keras_file])
    return out, manifest


@pytest.fixture(scope="module")
def browser_page(site):
    with browser.headless_page(site[0]) as (page, errors):
        yield page, errors


@needs_browser
def test_the_page_draws_what_the_python_sampler_makes_of_the_same_noise(site, browser_page, tmp_path):
    out, manifest = site
    page, errors = browser_page
    names = [entry["name"] for entry in manifest["models"]]
    assert names[:-1] == zoo.list_presets() and names[-1] == "cvae_halves"
    assert all(entry["shipped"] for entry in manifest["models"][:-1])
    for entry in manifest["models"]:
        name = entry["name"]
        assert entry["parity_mean_abs_error"] <= quantize.MEAN_ERROR_BUDGET  # int8 vs Keras, labels too
        browser.select(page, name)
        if entry["num_classes"]:
            page.select_option("#class", "2")  # one class for the whole grid
            page.wait_for_function("window.vaezooPage.last.labels && window.vaezooPage.last.labels[0] === 2")
        page.fill("#seed", "7")
        page.click("#sample")
        page.wait_for_function("window.vaezooPage.last.seed === 7")
        last = page.evaluate("window.vaezooPage.last")
        assert last["preset"] == name and last["kind"] == "sample"
        batch, dim = entry["batch_size"], entry["noise_dim"]
        noise = np.asarray(last["noise"], np.float32).reshape(batch, dim)
        assert abs(noise.std() - 1) < 0.25  # standard-normal noise from the page's own generator
        labels = None
        if entry["num_classes"]:
            labels = np.asarray(last["labels"])
            assert (labels == 2).all()
        expected = EdgeSampler(os.path.join(out, entry["file"])).sample_from_noise(
            noise, labels=labels, dtype="uint8")
        shown = browser.grid_images(page)
        error = np.abs(shown.astype(np.float64) - expected) / 255.0
        # The same file in both interpreters: within the int8 budget on every model
        # (measured: equal up to a level where float rounding crosses a .5).
        assert error.mean() <= quantize.MEAN_ERROR_BUDGET, (name, error.mean(), error.max())
        assert "ms per sample" in page.inner_text("#timing")
    assert not errors, errors

    # Interpolation: the first grid row's noise goes linearly from sample 0 to sample 1.
    page.click("#interpolate")
    page.wait_for_function("window.vaezooPage.last.kind === 'interpolate'")
    path = page.evaluate("window.vaezooPage.last.noise")
    path = np.asarray(path, np.float32).reshape(batch, dim)
    np.testing.assert_allclose(path[0], noise[0], atol=1e-6)
    np.testing.assert_allclose(path[-1], noise[1], atol=1e-6)
    np.testing.assert_allclose(path[batch // 2] - path[batch // 2 - 1], (noise[1] - noise[0]) / (batch - 1),
                               atol=1e-5)
    screenshot = tmp_path / "page.png"
    page.screenshot(path=str(screenshot), full_page=True)
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_every_built_in_preset_ships_a_page_sampler():
    for name in zoo.list_presets():
        path = web.shipped_file(name, "int8", web.DEFAULT_BATCH)
        assert path is not None, name
        sampler = EdgeSampler(path)
        assert sampler.batch_size == web.DEFAULT_BATCH and sampler.quantization == "int8"
        assert sampler.metadata["parity"]["mean_abs_error"] <= quantize.MEAN_ERROR_BUDGET
        # The plan of the packaged edge sampler: the two files quantize the same ops.
        assert sampler.metadata["plan"] == EdgeSampler.from_preset(name).metadata["plan"], name


def test_write_site_refuses_what_it_cannot_serve(tmp_path):
    existing = tmp_path / "site"
    existing.mkdir()
    with pytest.raises(FileExistsError, match="exists"):
        web.write_site(str(existing), ["vae_mnist"])
    with pytest.raises(ValueError, match="models must name at least one model"):
        web.write_site(str(tmp_path / "a"), [])
    with pytest.raises(ValueError, match="quantization must be one of"):
        web.write_site(str(tmp_path / "b"), ["vae_mnist"], quantization="int4")
    with pytest.raises(ValueError, match="LiteRT.js not found"):
        web.write_site(str(tmp_path / "c"), ["vae_mnist"], node_modules=str(tmp_path))
    assert sorted(os.listdir(tmp_path)) == ["site"]  # nothing half-written


def test_a_model_that_does_not_make_images_is_refused(tmp_path):
    model = zoo.VAE(input_shape=(6,), latent_dim=2, hidden_dims=(8,), likelihood="gaussian", seed=0)
    model(np.zeros((1, 6), np.float32))
    model.save(str(tmp_path / "table.keras"))
    with pytest.raises(ValueError, match=r"draws images .* shape \[6\]"):
        web.export_sampler(str(tmp_path / "table.keras"), str(tmp_path / "t.tflite"))
    assert not (tmp_path / "t.tflite").exists()


def _litert_js_missing():
    try:
        web.find_litert_js()
    except ValueError as err:
        return str(err)
    return None


@pytest.mark.skipif(_litert_js_missing() is not None, reason=str(_litert_js_missing()))
def test_the_command_line_writes_a_site_of_shipped_presets(tmp_path, capsys):
    from zoo import cli

    out = str(tmp_path / "site")
    assert cli.main(["web", out, "--presets", "vae_mnist", "hvae_mnist"]) == 0
    assert f"Page written to {out}" in capsys.readouterr().out
    with open(os.path.join(out, "models.json")) as f:
        manifest = json.load(f)
    assert [m["name"] for m in manifest["models"]] == ["vae_mnist", "hvae_mnist"]
    assert all(m["shipped"] and m["batch_size"] == 16 for m in manifest["models"])
    for name in ("index.html", "app.js", "style.css", "litert/core/index.js",
                 "litert/wasm-utils/index.js", "litert/wasm/litert_wasm_internal.wasm",
                 "models/vae_mnist.tflite"):
        assert os.path.isfile(os.path.join(out, name)), name
    # A second run into the same folder is refused, and names the way out.
    assert cli.main(["web", out, "--presets", "vae_mnist"]) == 2
    assert "--overwrite" in capsys.readouterr().err
