"""The int8 samplers packaged with vaezoo-edge: one per built-in preset, each within the
int8 budget of its Keras preset."""

import numpy as np
import pytest
import tensorflow as tf

import zoo
from export import quantize, report
from export.edge import EdgeSampler, list_presets


def test_every_built_in_preset_is_packaged():
    assert list_presets() == sorted(zoo.presets.list_presets())


@pytest.mark.parametrize("name", sorted(zoo.presets.list_presets()))
def test_a_packaged_sampler_matches_its_keras_preset(name):
    edge = EdgeSampler.from_preset(name)
    model = zoo.from_preset(name)
    assert edge.metadata["quantization"] == "int8"
    assert edge.metadata["model_class"] == type(model).__name__
    assert edge.noise_dim == model.noise_dim
    noise = np.random.default_rng(11).standard_normal((128, model.noise_dim)).astype(np.float32)
    labels = report.report_labels(model, len(noise))  # a conditional preset: every class
    assert edge.num_classes == model.num_classes
    # Keras's numbers from the function the file was converted from, run eagerly: what
    # `model.sample_from_noise` computes (to ~4e-6), without tracing a graph per preset
    # (4.4 s for a flow prior's sampler against 1.1 s eagerly).
    spec = model.sampler_spec()
    keras_samples = spec.sample_from_noise(tf.constant(noise),
                                           *([] if labels is None else [tf.constant(labels)]))
    error = np.abs(edge.sample_from_noise(noise, labels) - np.asarray(keras_samples))
    # The budget is on 1,000 vectors (measured at export, in the metadata); 128 other
    # vectors get a little slack for their sampling error.
    assert edge.metadata["parity"]["mean_abs_error"] <= quantize.MEAN_ERROR_BUDGET
    assert error.mean() <= 1.25 * quantize.MEAN_ERROR_BUDGET, error.mean()


def test_an_unknown_preset_names_the_packaged_ones():
    with pytest.raises(ValueError, match=r"name must be one of the packaged presets \['chvae_fashion_mnist"):
        EdgeSampler.from_preset("vae_mnsit")  # a typo: no such preset, ever
