"""SavedModel export: TF Serving layout, signatures, atomic versions, bad input."""

import os
import shutil
import subprocess
import sys

import keras
import numpy as np
import pytest

import export
from export import serving
from tests.families import FAMILIES
from zoo.io_utils import ArtifactExistsError


@pytest.fixture(scope="module")
def model():
    return FAMILIES["VAE-conv"]()


@pytest.fixture(scope="module")
def exported(model, tmp_path_factory):
    """The version directory of one default export, for the tests that only read it."""
    return export.saved_model(model, str(tmp_path_factory.mktemp("served") / "vae"), version=1)


def test_saved_model_cli_lists_the_named_signatures(exported):
    version_dir = exported
    cli = shutil.which("saved_model_cli", path=os.path.dirname(sys.executable))
    assert cli, "saved_model_cli is installed with tensorflow"
    text = subprocess.run([cli, "show", "--dir", version_dir, "--all"], capture_output=True,
                          text=True, check=True, timeout=300).stdout
    for signature in ("serving_default", "sample_from_noise", "decode", "encode", "score"):
        assert f"signature_def['{signature}']" in text
    # Named inputs and outputs, dynamic batch (-1).
    assert "inputs['noise'] tensor_info:" in text and "outputs['samples'] tensor_info:" in text
    assert "shape: (-1, 8)" in text and "shape: (-1, 28, 28, 1)" in text
    for name in ("inputs['z']", "outputs['mean']", "inputs['x']", "outputs['loc']",
                 "outputs['scale']", "outputs['score']"):
        assert name in text


def test_layout_metadata_and_versions(model, tmp_path):
    base = str(tmp_path / "vae")
    first = export.saved_model(model, base, version=1, include_encoder=False)
    assert sorted(os.listdir(first)) == ["assets", "assets.extra", "fingerprint.pb",
                                         "saved_model.pb", "variables"]
    meta = serving.read_metadata(first)
    assert meta["noise_dim"] == 8 and meta["output_shape"] == [28, 28, 1]
    assert "encode" not in meta["signatures"] and "serving_default" in meta["signatures"]
    export.saved_model(model, base, version=2)
    assert sorted(os.listdir(base)) == ["1", "2"]  # nothing else for a server to trip on


def test_an_existing_version_is_refused_unless_overwrite(model, tmp_path):
    base = str(tmp_path / "vae")
    path = export.saved_model(model, base, version=1)
    stamp = os.path.getmtime(os.path.join(path, "saved_model.pb"))
    with pytest.raises(ArtifactExistsError, match="Version 1 already exists") as info:
        export.saved_model(model, base, version=1)
    assert isinstance(info.value, ValueError) and isinstance(info.value, FileExistsError)
    export.saved_model(model, base, version=1, overwrite=True)
    assert os.path.getmtime(os.path.join(path, "saved_model.pb")) >= stamp
    assert sorted(os.listdir(base)) == ["1"]


def test_a_crash_while_writing_leaves_no_version_behind(model, tmp_path, monkeypatch):
    base = tmp_path / "vae"

    def crash(self, filepath, **kwargs):
        with open(os.path.join(filepath, "saved_model.pb"), "wb") as f:
            f.write(b"half")  # a partial file, then the process "dies"
        raise KeyboardInterrupt("simulated crash")

    # ExportArchive() builds a backend-specific subclass: patch the class really used.
    monkeypatch.setattr(type(keras.export.ExportArchive()), "write_out", crash)
    with pytest.raises(KeyboardInterrupt):
        export.saved_model(model, str(base), version=1)
    assert os.listdir(base) == []  # no version dir, no temporary leftovers


@pytest.mark.parametrize("version", [0, -1, 1.5, "2", True])
def test_bad_versions_are_named(model, tmp_path, version):
    with pytest.raises(ValueError, match="version must be a positive integer"):
        export.saved_model(model, str(tmp_path), version=version)


def test_bad_targets_and_models(model, tmp_path):
    afile = tmp_path / "file"
    afile.write_text("x")
    with pytest.raises(ValueError, match="base_dir must be a directory"):
        export.saved_model(model, str(afile))
    with pytest.raises(TypeError, match="must be a zoo model"):
        export.saved_model(keras.Sequential([keras.layers.Dense(2)]), str(tmp_path / "a"))
    with pytest.raises(TypeError, match="must be a zoo model"):
        export.tflite(keras.Sequential([keras.layers.Dense(2)]), str(tmp_path / "a.tflite"))


def test_served_score_is_deterministic(exported):
    import tensorflow as tf

    path = exported
    score = tf.saved_model.load(path).signatures["score"]
    x = (np.random.default_rng(0).uniform(size=(4, 28, 28, 1)) > 0.5).astype(np.float32)
    a, b = score(x=tf.constant(x))["score"], score(x=tf.constant(x))["score"]
    np.testing.assert_array_equal(a, b)


def test_each_weight_is_stored_once(model, exported):
    import tensorflow as tf

    path = exported
    reader = tf.train.load_checkpoint(os.path.join(path, "variables", "variables"))
    stored = sum(int(np.prod(shape)) for name, shape in reader.get_variable_to_shape_map().items()
                 if name != "_CHECKPOINTABLE_OBJECT_GRAPH")
    # Every weight the signatures use, once: ExportArchive.track(model) used to add a
    # second copy of each (keras-team/keras#23553), doubling the artifact.
    decoder = sum(int(np.prod(v.shape)) for v in model.decoder.weights)
    assert decoder < stored <= model.count_params()
