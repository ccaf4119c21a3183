"""Samplers exported with a fixed batch, for runtimes that refuse a dynamic one (LiteRT.js).

Every family's float32 file must compute what Keras does on any number of rows (the edge
sampler runs padded chunks); an int8 file must be quantized exactly as the dynamic-batch
one is (calibrated in chunks to the same ranges), so the two agree with each other,
not just with Keras within the budget.
"""

import numpy as np
import pytest

import export
from export.edge import EdgeSampler
from tests.export.test_export_parity import trained
from tests.families import FAMILIES
from tests.test_conditional import trained as conditional_trained


# The samplers whose graphs differ at the batch axis: a plain decoder, a hierarchy (the
# batch folds into its constants) and a MAF prior (a loop over the latent dimensions).
# The VAE-GAN's and IWAE's samplers are the VAE's decoder.
@pytest.mark.parametrize("name", ["VAE-conv", "HVAE-conv", "FlowPriorVAE-maf"])
def test_a_fixed_batch_float_sampler_matches_keras_on_any_number_of_rows(name, tmp_path):
    model, _ = trained(name)
    path = export.tflite(model, str(tmp_path / "fixed.tflite"), batch_size=4)
    sampler = EdgeSampler(path)
    assert sampler.batch_size == 4 and sampler.metadata["batch_size"] == 4
    for runner in sampler._runners.values():  # what LiteRT.js reads: no -1 anywhere
        for detail in runner.get_input_details().values():
            assert detail["shape_signature"][0] == 4, detail
    noise = np.random.default_rng(0).standard_normal((11, model.noise_dim)).astype(np.float32)
    expected = np.asarray(model.sample_from_noise(noise))
    for rows in (1, 4, 11):  # under, at and over the batch, with a padded last chunk
        np.testing.assert_allclose(sampler.sample_from_noise(noise[:rows]), expected[:rows],
                                   atol=1e-4, err_msg=f"{name}, {rows} rows")
    z = np.asarray(model.latent_from_noise(noise[:6]))
    np.testing.assert_allclose(sampler.decode(z), model.decode(z).mean(), atol=1e-4)


def test_a_fixed_batch_int8_sampler_is_quantized_as_the_dynamic_one(tmp_path):
    # The HVAE's fixed-batch graph has tensors the dynamic one lacks (the batch is folded
    # into constants), so the ranges must come from the fixed graph itself. (The web
    # page's test exports a conditional VAE the same way.)
    # The conditional HVAE after one epoch on `halves`: tests/test_conditional.py's model,
    # trained once per worker for both modules.
    model, _, _ = conditional_trained("hvae")
    # 100 calibration vectors for both files: 13 chunks of 8, the last one padded, test the
    # chunked merge as the default 500's 63 chunks did, with a fifth of the calibration runs.
    fixed = EdgeSampler(export.tflite(model, str(tmp_path / "fixed.tflite"), quantization="int8",
                                      batch_size=8, calibration_samples=100))
    dynamic = EdgeSampler(export.tflite(model, str(tmp_path / "dynamic.tflite"), quantization="int8",
                                        calibration_samples=100))
    assert fixed.batch_size == 8 and dynamic.batch_size is None
    # Float in, float out, int8 inside: what a runtime without int8 tensors can feed.
    for sampler in (fixed, dynamic):
        for runner in sampler._runners.values():
            assert runner.get_input_details()["noise" if "noise" in runner.get_input_details() else "z"][
                "dtype"] == np.float32
            assert all(d["dtype"] == np.float32 for d in runner.get_output_details().values())
        assert sampler.metadata["plan_search"]["full_int8_mean_abs_error"] is not None
    assert fixed.metadata["plan"] == dynamic.metadata["plan"]
    assert fixed.metadata["parity"]["mean_abs_error"] <= export.quantize.MEAN_ERROR_BUDGET
    noise = np.random.default_rng(1).standard_normal((13, model.noise_dim)).astype(np.float32)
    labels = np.arange(13) % 3
    np.testing.assert_allclose(fixed.sample_from_noise(noise, labels=labels),
                               dynamic.sample_from_noise(noise, labels=labels), atol=1e-6)


def test_a_bad_batch_size_is_refused_before_any_conversion(tmp_path):
    model = FAMILIES["IWAE-mlp"]()  # refused before any conversion: no need to train it
    for batch_size in (0, 2.5, True, "8"):
        with pytest.raises(ValueError, match="batch_size must be a positive integer"):
            export.tflite(model, str(tmp_path / "x.tflite"), batch_size=batch_size)
    with pytest.raises(ValueError, match="calibration_samples must be at least batch_size"):
        export.tflite(model, str(tmp_path / "x.tflite"), quantization="int8", batch_size=64,
                      calibration_samples=32)
    assert not (tmp_path / "x.tflite").exists()
