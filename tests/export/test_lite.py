"""TFLite export: metadata, signatures, the parity guard, bad input."""

import json
import os

import numpy as np
import pytest

import export
from export import lite
from export.edge import EdgeSampler, read_tflite_metadata
from tests.families import FAMILIES


@pytest.fixture(scope="module")
def model():
    return FAMILIES["VAE-mlp"]()


def test_metadata_travels_inside_the_file(model, tmp_path):
    from tensorflow.lite.tools import flatbuffer_utils

    path = export.tflite(model, str(tmp_path / "m.tflite"), quantization="dynamic")
    ours = json.loads(read_tflite_metadata(open(path, "rb").read())["vaezoo"])
    # Cross-check the struct-based reader against TensorFlow's own flatbuffer parser.
    parsed = flatbuffer_utils.read_model(path)
    (entry,) = [m for m in parsed.metadata if m.name == b"vaezoo"]
    assert json.loads(bytes(parsed.buffers[entry.buffer].data)) == ours
    assert ours["noise_dim"] == 8 and ours["output_shape"] == [28, 28, 1]
    assert ours["quantization"] == "dynamic" and ours["model_class"] == "VAE"
    assert ours["parity"]["finite"] and ours["parity"]["max_abs_error"] < 5e-2


def test_a_vae_shares_one_subgraph_between_its_signatures(model, tmp_path):
    from ai_edge_litert.interpreter import Interpreter

    path = export.tflite(model, str(tmp_path / "m.tflite"))
    signatures = Interpreter(model_path=path).get_signature_list()
    assert signatures == {"decode": {"inputs": ["z"], "outputs": ["mean"]},
                          "sample_from_noise": {"inputs": ["noise"], "outputs": ["samples"]}}
    assert lite.shares_one_graph(model)
    assert EdgeSampler(path).metadata["shared_subgraph"] is True


def test_per_tensor_dense_quantization_keeps_int8_small(model, tmp_path):
    small = export.tflite(model, str(tmp_path / "a.tflite"), quantization="int8")
    large = export.tflite(model, str(tmp_path / "b.tflite"), quantization="int8",
                          per_channel_dense=True)
    f32 = export.tflite(model, str(tmp_path / "c.tflite"))
    assert os.path.getsize(small) < os.path.getsize(large)
    assert os.path.getsize(small) < 0.4 * os.path.getsize(f32)


def test_a_conversion_that_does_not_reproduce_keras_is_refused(model, tmp_path, monkeypatch):
    # Stand-in for the NaN-everywhere conversion seen with TFP bijector graphs.
    monkeypatch.setattr(lite, "parity", lambda *a, **k: {
        "finite": False, "max_abs_error": float("inf"), "mean_abs_error": float("inf"),
        "num_vectors": 64, "output_scale": 1.0})
    path = str(tmp_path / "bad.tflite")
    with pytest.raises(lite.ConversionError, match="does not reproduce the Keras model"):
        export.tflite(model, path)
    assert not os.path.exists(path)
    export.tflite(model, path, verify=False)  # explicitly unverified: written, no parity entry
    assert "parity" not in EdgeSampler(path).metadata


@pytest.mark.parametrize("kwargs,error,fragment", [
    (dict(quantization="int4"), ValueError, "quantization must be one of"),
    (dict(quantization="float32", int8_io=True), ValueError, "int8_io needs quantization='int8'"),
])
def test_bad_options_are_named(model, tmp_path, kwargs, error, fragment):
    with pytest.raises(error, match=fragment):
        export.tflite(model, str(tmp_path / "m.tflite"), **kwargs)


def test_a_directory_is_not_a_tflite_path(model, tmp_path):
    with pytest.raises(ValueError, match="path must be a file path"):
        export.tflite(model, str(tmp_path))
