"""The vaezoo-edge package in environments without TensorFlow: numpy plus a TFLite
interpreter only, installed with `pip install ./edge`.

CI builds the environments in `.ci/run` and names their interpreters in
`VAEZOO_EDGE_PYTHON` (LiteRT) and `VAEZOO_EDGE_LEGACY_PYTHON` (tflite-runtime 2.14,
numpy < 2). Elsewhere the test builds them once under `.venv-edge*` in the repository.
The local ones get the edge package reinstalled from this checkout whenever its files
change, so it is the current code and the current packaged samplers that are tested (CI
installs it from the checkout it tests).
"""

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import pytest

import export
from export import quantize
from tests.export.test_export_parity import TOLERANCES
from tests.families import FAMILIES

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EDGE = os.path.join(REPO, "edge")
# (environment variable, local venv folder, what `pip install` puts in a new one,
#  the interpreter module, how the edge package goes in)
RUNTIMES = {
    "litert": ("VAEZOO_EDGE_PYTHON", ".venv-edge", [EDGE], "ai_edge_litert", []),
    "tflite-runtime": ("VAEZOO_EDGE_LEGACY_PYTHON", ".venv-edge-legacy",
                       ["numpy<2", "tflite-runtime"], "tflite_runtime", ["--no-deps"]),
}

ON_DEVICE = r"""
import importlib.util
import sys
import numpy as np

from vaezoo_edge import EdgeSampler, list_presets

data = np.load(sys.argv[1])
out = {}
for name in ("float32", "int8"):
    edge = EdgeSampler(data[f"path_{name}"].item())
    out[f"samples_{name}"] = edge.sample_from_noise(data["noise"])
    out[f"decode_{name}"] = edge.decode(data["noise"][:5])
    out[f"random_{name}"] = edge.sample(3, seed=0)
out["presets"] = np.array(list_presets())
for preset in list_presets():
    try:
        out[f"preset_{preset}"] = EdgeSampler.from_preset(preset).sample(16, seed=0)
    except ValueError as err:  # refused, with the reason
        out[f"refused_{preset}"] = np.array(str(err))
for module in ("tensorflow", "keras", "zoo", "export", "tensorflow_probability"):
    assert module not in sys.modules, module + " was imported"
assert importlib.util.find_spec("tensorflow") is None, "tensorflow is installed here"
assert importlib.util.find_spec("zoo") is None, "the full vaezoo is installed here"
out["runtime"] = np.array(sys.argv[3])
np.savez(sys.argv[2], **out)
"""


def _edge_digest():
    """A digest of the edge package's files: its installed copy is current when equal."""
    digest = hashlib.sha256()
    for root, dirs, files in sorted(os.walk(EDGE)):
        dirs[:] = sorted(d for d in dirs if d not in ("__pycache__", "build") and not d.endswith(".egg-info"))
        for name in sorted(files):
            with open(os.path.join(root, name), "rb") as f:
                digest.update(name.encode() + f.read())
    return digest.hexdigest()[:16]


def _edge_python(runtime):
    """The runtime's TensorFlow-free interpreter, with this checkout's edge package."""
    variable, folder, packages, module, edge_options = RUNTIMES[runtime]
    with open(os.path.join(REPO, f"{folder}.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # xdist workers may both get here
        if os.environ.get(variable):
            # CI (.ci/run) installed ./edge from this checkout into it just before the tests.
            return os.environ[variable]
        else:
            venv = os.path.join(REPO, folder)
            python = os.path.join(venv, "bin", "python")
            check = subprocess.run([python, "-c", f"import {module}, numpy"], capture_output=True) \
                if os.path.exists(python) else None
            if check is None or check.returncode != 0:
                subprocess.run([sys.executable, "-m", "venv", "--clear", venv], check=True)
                subprocess.run([python, "-m", "pip", "install", "--quiet", *packages], check=True,
                               timeout=900)
        stamp = os.path.join(os.path.dirname(os.path.dirname(python)), f"edge-{_edge_digest()}")
        if not os.path.exists(stamp):  # whenever the package's files change
            # From a clean copy: pip builds in the source tree, and setuptools' build/ keeps
            # files deleted since (a removed preset's sampler would be installed again).
            with tempfile.TemporaryDirectory() as tmp:
                source = shutil.copytree(EDGE, os.path.join(tmp, "edge"), ignore=shutil.ignore_patterns(
                    "build", "*.egg-info", "__pycache__"))
                subprocess.run([python, "-m", "pip", "install", "--quiet", "--force-reinstall",
                                "--no-deps", source], check=True, timeout=900)
            open(stamp, "w").close()
    return python


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """(model, {quantization: .tflite path}): the same files for every runtime."""
    model = FAMILIES["VAE-conv"]()
    directory = tmp_path_factory.mktemp("edge_files")
    return model, export.tflite_variants(model, {q: str(directory / f"{q}.tflite")
                                                 for q in ("float32", "int8")})


@pytest.mark.parametrize("runtime", sorted(RUNTIMES))
def test_edge_sampler_runs_without_tensorflow(runtime, exported, tmp_path):
    model, paths = exported
    noise = np.random.default_rng(0).standard_normal((40, model.noise_dim)).astype(np.float32)
    inputs, outputs = str(tmp_path / "in.npz"), str(tmp_path / "out.npz")
    np.savez(inputs, noise=noise, **{f"path_{q}": np.array(p) for q, p in paths.items()})
    result = subprocess.run([_edge_python(runtime), "-c", ON_DEVICE, inputs, outputs, runtime],
                            capture_output=True, text=True, timeout=300, cwd=str(tmp_path),
                            env={"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path)})
    assert result.returncode == 0, result.stderr[-2000:]
    device = np.load(outputs)
    expected = np.asarray(model.sample_from_noise(noise))
    for quantization in ("float32", "int8"):
        max_tol, mean_tol = TOLERANCES[quantization]
        error = np.abs(device[f"samples_{quantization}"] - expected)
        assert error.max() <= max_tol and error.mean() <= mean_tol, (runtime, quantization, error.max())
        np.testing.assert_allclose(device[f"decode_{quantization}"], expected[:5], atol=max_tol)
        assert device[f"random_{quantization}"].shape == (3, 28, 28, 1)
    # Every packaged preset samples on the device, the same images as in the full install.
    from export.edge import EdgeSampler, list_presets

    import zoo

    # Every built-in preset ships its edge sampler.
    assert sorted(device["presets"].tolist()) == list_presets() == sorted(zoo.list_presets())
    for preset in list_presets():
        here = EdgeSampler.from_preset(preset)
        dynamic = any(entry["mode"] == "dynamic" for entry in here.metadata["plan"])
        if runtime == "litert":  # the same runtime as here: the same images
            np.testing.assert_allclose(device[f"preset_{preset}"], here.sample(16, seed=0), atol=1e-6)
        elif dynamic:  # tflite-runtime 2.14 computes dynamic-range ops wrongly: refused
            assert "legacy tflite-runtime computes wrongly" in device[f"refused_{preset}"].item()
        else:  # older int8 kernels round differently
            error = np.abs(device[f"preset_{preset}"] - here.sample(16, seed=0))
            assert error.mean() <= quantize.MEAN_ERROR_BUDGET, (preset, error.mean())
