"""EdgeSampler in environments without TensorFlow: numpy plus a TFLite interpreter only.

CI builds the environments in `.ci/run` and names their interpreters in
`VAEZOO_EDGE_PYTHON` (LiteRT) and `VAEZOO_EDGE_LEGACY_PYTHON` (tflite-runtime 2.14,
numpy < 2). Elsewhere the test builds them once under `.venv-edge*` in the repository.
"""

import fcntl
import os
import subprocess
import sys

import numpy as np
import pytest

import export
from tests.export.test_export_parity import TOLERANCES
from tests.families import FAMILIES

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RUNTIMES = {
    "litert": ("VAEZOO_EDGE_PYTHON", ".venv-edge", ["numpy", "ai-edge-litert"],
               "ai_edge_litert"),
    "tflite-runtime": ("VAEZOO_EDGE_LEGACY_PYTHON", ".venv-edge-legacy",
                       ["numpy<2", "tflite-runtime"], "tflite_runtime"),
}

ON_DEVICE = r"""
import sys
import numpy as np

sys.path.insert(0, sys.argv[1])
from export.edge import EdgeSampler

data = np.load(sys.argv[2])
out = {}
for name in ("float32", "int8"):
    edge = EdgeSampler(data[f"path_{name}"].item())
    out[f"samples_{name}"] = edge.sample_from_noise(data["noise"])
    out[f"decode_{name}"] = edge.decode(data["noise"][:5])
    out[f"random_{name}"] = edge.sample(3, seed=0)
for module in ("tensorflow", "keras", "zoo", "tensorflow_probability"):
    assert module not in sys.modules, module + " was imported"
import importlib
out["runtime"] = np.array(sys.argv[4])
assert importlib.util.find_spec("tensorflow") is None, "tensorflow is installed here"
np.savez(sys.argv[3], **out)
"""


def _edge_python(runtime):
    variable, folder, packages, module = RUNTIMES[runtime]
    if os.environ.get(variable):
        return os.environ[variable]
    venv = os.path.join(REPO, folder)
    python = os.path.join(venv, "bin", "python")
    with open(os.path.join(REPO, f"{folder}.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # xdist workers may both get here
        check = subprocess.run([python, "-c", f"import {module}, numpy"], capture_output=True) \
            if os.path.exists(python) else None
        if check is None or check.returncode != 0:
            subprocess.run([sys.executable, "-m", "venv", "--clear", venv], check=True)
            subprocess.run([python, "-m", "pip", "install", "--quiet", *packages], check=True,
                           timeout=900)
    return python


@pytest.mark.parametrize("runtime", sorted(RUNTIMES))
def test_edge_sampler_runs_without_tensorflow(runtime, tmp_path):
    model = FAMILIES["VAE-conv"]()
    noise = np.random.default_rng(0).standard_normal((40, model.noise_dim)).astype(np.float32)
    paths = {q: export.tflite(model, str(tmp_path / f"{q}.tflite"), quantization=q)
             for q in ("float32", "int8")}
    inputs, outputs = str(tmp_path / "in.npz"), str(tmp_path / "out.npz")
    np.savez(inputs, noise=noise, **{f"path_{q}": np.array(p) for q, p in paths.items()})
    result = subprocess.run([_edge_python(runtime), "-c", ON_DEVICE, REPO, inputs, outputs, runtime],
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
