"""TFLite export: metadata, signatures, the parity guard, bad input."""

import json
import os

import numpy as np
import pytest

import export
import zoo
from export import lite
from export.edge import EdgeSampler, read_tflite_metadata
from tests.families import FAMILIES


@pytest.fixture(scope="module")
def model():
    return FAMILIES["VAE-mlp"]()


# Out of QUANTIZATIONS' order, so the order of the result is the order asked.
VARIANTS_ORDER = ("int8", "float16", "float32", "dynamic")


@pytest.fixture(scope="module")
def variants(model, tmp_path_factory):
    """(paths asked, what `tflite_variants` returned): every quantization of `model` from
    one traced graph, read by the tests below that only inspect a file (each would
    otherwise trace and convert the model again)."""
    directory = tmp_path_factory.mktemp("variants")
    paths = {q: str(directory / f"v_{q}.tflite") for q in VARIANTS_ORDER}
    return paths, export.tflite_variants(model, paths)


def test_metadata_travels_inside_the_file(variants):
    from tensorflow.lite.tools import flatbuffer_utils

    path = variants[0]["dynamic"]
    ours = json.loads(read_tflite_metadata(open(path, "rb").read())["vaezoo"])
    # Cross-check the struct-based reader against TensorFlow's own flatbuffer parser.
    parsed = flatbuffer_utils.read_model(path)
    (entry,) = [m for m in parsed.metadata if m.name == b"vaezoo"]
    assert json.loads(bytes(parsed.buffers[entry.buffer].data)) == ours
    assert ours["noise_dim"] == 8 and ours["output_shape"] == [28, 28, 1]
    assert ours["quantization"] == "dynamic" and ours["model_class"] == "VAE"
    assert ours["parity"]["finite"] and ours["parity"]["max_abs_error"] < 5e-2


def test_a_vae_shares_one_subgraph_between_its_signatures(model, variants):
    from ai_edge_litert.interpreter import Interpreter

    path = variants[0]["float32"]
    signatures = Interpreter(model_path=path).get_signature_list()
    assert signatures == {"decode": {"inputs": ["z"], "outputs": ["mean"]},
                          "sample_from_noise": {"inputs": ["noise"], "outputs": ["samples"]}}
    assert model.sampler_spec().noise_is_latent
    assert EdgeSampler(path).metadata["shared_subgraph"] is True


def test_per_tensor_dense_quantization_keeps_int8_small(model, variants, tmp_path):
    small, f32 = variants[0]["int8"], variants[0]["float32"]
    large = export.tflite(model, str(tmp_path / "b.tflite"), quantization="int8",
                          per_channel_dense=True)
    assert os.path.getsize(small) < os.path.getsize(large)
    assert os.path.getsize(small) < 0.4 * os.path.getsize(f32)


def test_variants_are_the_files_one_export_each_would_write(model, variants, tmp_path):
    # One traced graph converted several times must give what separate exports give
    # (float32 here reuses the conversion the int8 search, asked first, started from).
    paths, returned = variants
    assert list(returned.items()) == list(paths.items())  # in the order asked
    for quantization in ("int8", "float16", "float32"):
        path = paths[quantization]
        alone = export.tflite(model, str(tmp_path / f"{quantization}.tflite"),
                              quantization=quantization)
        with open(path, "rb") as a, open(alone, "rb") as b:
            assert a.read() == b.read(), quantization
        assert EdgeSampler(path).quantization == quantization


def test_a_refused_variant_keeps_the_ones_before_it_and_stops(model, tmp_path, monkeypatch):
    # Refused after the converter's dynamic-range pass: the cheapest quantized conversion
    # (int8's calibration and 1,000-vector check would add nothing to what is tested).
    monkeypatch.setitem(lite.PARITY_LIMITS, "dynamic", (-1.0, -1.0))  # dynamic cannot pass
    paths = {q: str(tmp_path / f"{q}.tflite") for q in ("float32", "dynamic", "float16")}
    with pytest.raises(lite.ConversionError, match="The dynamic TFLite conversion"):
        export.tflite_variants(model, paths)
    assert os.path.isfile(paths["float32"])
    assert not os.path.exists(paths["dynamic"]) and not os.path.exists(paths["float16"])


@pytest.mark.parametrize("paths,kwargs,error,fragment", [
    ({}, {}, TypeError, "paths must be a non-empty dict"),
    (["float32"], {}, TypeError, "paths must be a non-empty dict"),
    ({"int4": "a.tflite"}, {}, ValueError, "quantization must be one of"),
    ({"float32": 3}, {}, TypeError, "path must be a str or os.PathLike. Received: path=3"),
    ({"float32": "same.tflite", "int8": "./same.tflite"}, {}, ValueError,
     "each quantization needs its own file"),
    ({"float32": "a.tflite", "dynamic": "b.tflite"}, {"int8_io": True}, ValueError,
     "int8_io needs quantization='int8'"),
])
def test_bad_variants_are_named(model, tmp_path, monkeypatch, paths, kwargs, error, fragment):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(error, match=fragment):
        export.tflite_variants(model, paths, **kwargs)
    assert not os.listdir(tmp_path)


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


@pytest.mark.parametrize("max_error,mean_error,accepted", [
    (0.30, 0.006, True),    # the trained vae_mnist int8 decoder: one steep pixel, small mean
    (0.20, 0.05, False),    # every pixel a little off: mis-scaled quantization
    (0.95, 0.006, True),    # one pixel far off: reported, not refused (int8 near a logit of 0)
    (0.20, 0.011, False),   # just over the mean budget
])
def test_int8_refusal_is_the_mean_error_budget(model, tmp_path, monkeypatch, max_error,
                                                mean_error, accepted):
    monkeypatch.setattr(lite, "parity", lambda *a, **k: {
        "finite": True, "max_abs_error": max_error, "mean_abs_error": mean_error,
        "num_vectors": 64, "output_scale": 1.0})
    path = str(tmp_path / "m.tflite")
    if accepted:
        export.tflite(model, path, quantization="int8")
        assert EdgeSampler(path).metadata["parity"]["max_abs_error"] == max_error
    else:
        with pytest.raises(lite.ConversionError, match="mean abs error") as info:
            export.tflite(model, path, quantization="int8")
        assert not os.path.exists(path)
        # The refused conversion stays inspectable: its check, and a runnable file.
        assert info.value.check["max_abs_error"] == max_error
        refused = tmp_path / "refused.tflite"
        refused.write_bytes(info.value.flatbuffer)
        assert EdgeSampler(str(refused)).metadata["quantization"] == "int8"


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


def test_the_conv_sampler_uses_no_resize_op_xnnpack_cannot_run(tmp_path):
    # RESIZE_NEAREST_NEIGHBOR is not an XNNPACK op: it split the sampler into partitions
    # with reference kernels between them. zoo.networks.NearestResize avoids it.
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    model = zoo.VAE(input_shape=(28, 28, 1), latent_dim=4, network="conv", hidden_dims=(8, 16),
                    seed=0)
    model(np.zeros((1, 28, 28, 1), np.float32))
    path = export.tflite(model, str(tmp_path / "conv.tflite"), quantization="int8")
    with open(path, "rb") as f:
        graph = flatbuffer_utils.convert_bytearray_to_object(bytearray(f.read()))
    codes = {max(c.builtinCode, c.deprecatedBuiltinCode) for c in graph.operatorCodes}
    names = {name for name, value in vars(schema.BuiltinOperator).items() if value in codes}
    assert "CONV_2D" in names and "DEPTH_TO_SPACE" in names, names
    assert "RESIZE_NEAREST_NEIGHBOR" not in names, names
