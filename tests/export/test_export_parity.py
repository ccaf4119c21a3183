"""Every model family, exported to every target, against its own Keras model.

Parametrized over `tests.families.FAMILIES`, which must list every public model class:
a new family passes these or does not land.
"""

import os
import select
import subprocess
import sys

import keras
import numpy as np
import pytest

import export
from export import graphs
from export.edge import EdgeSampler
from tests.families import FAMILIES, binary_images

# Documented tolerances (README, "Export"): max / mean absolute error of the sampler's
# outputs (pixel probabilities in [0, 1]) against Keras on the same noise.
TOLERANCES = {
    "float32": (1e-5, 1e-6),   # same float32 math; only op order differs
    "float16": (5e-3, 5e-4),   # float16 weights: ~3 significant digits
    "dynamic": (5e-2, 5e-3),   # int8 weights, float activations
    "int8": (1e-1, 1e-2),      # int8 weights and activations; mean <= 0.01 is the target
}

# A separate interpreter that imports only TensorFlow: the SavedModel must stand alone.
# One per test module (not per family) and fed requests on stdin, since starting
# TensorFlow costs seconds each time; every request loads its SavedModel afresh.
FRESH_PROCESS = r"""
import sys
import numpy as np
import tensorflow as tf

for line in sys.stdin:
    version_dir, inputs, outputs = line.rstrip("\n").split("\t")
    loaded = tf.saved_model.load(version_dir)
    data = np.load(inputs)
    out = {}
    for batch in (1, 37):
        out[f"samples_{batch}"] = loaded.signatures["serving_default"](
            noise=tf.constant(data["noise"][:batch]))["samples"].numpy()
    out["decode"] = loaded.signatures["decode"](z=tf.constant(data["noise"][:9]))["mean"].numpy()
    encoded = loaded.signatures["encode"](x=tf.constant(data["x"]))
    out["loc"], out["scale"] = encoded["loc"].numpy(), encoded["scale"].numpy()
    out["score"] = loaded.signatures["score"](x=tf.constant(data["x"]))["score"].numpy()
    assert "zoo" not in sys.modules and "export" not in sys.modules, "the zoo was imported"
    np.savez(outputs, **out)
    print("done", flush=True)
"""


_TRAINED = {}


def trained(name):
    """A family's model after one epoch on `tests.families.binary_images`, and the data.

    Trained eagerly: three eager steps cost a fraction of tracing a train step (2-7 s a
    family), and training is not what is tested here (every family trains in graph mode
    in its harness tests, which also show that three steps move every weight, the
    zero-initialised ones of a hierarchy included). Made once per worker; the tests that
    use it (here and in test_fixed_batch.py) export, sample and score the model but never
    train or change it."""
    if name not in _TRAINED:
        model = FAMILIES[name]()
        x = binary_images()
        model.compile(optimizer=keras.optimizers.Adam(1e-3), run_eagerly=True)
        model.fit(x, batch_size=32, epochs=1, verbose=0)
        _TRAINED[name] = model, x
    return _TRAINED[name]


@pytest.fixture(scope="module")
def fresh_process(tmp_path_factory):
    """`load(version_dir, inputs, outputs)`, run in the TensorFlow-only interpreter."""
    cwd = tmp_path_factory.mktemp("fresh")
    child = subprocess.Popen([sys.executable, "-c", FRESH_PROCESS], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True, cwd=str(cwd),
                             env={**os.environ, "PYTHONPATH": ""})

    def load(*paths):
        child.stdin.write("\t".join(paths) + "\n")
        child.stdin.flush()
        ready, _, _ = select.select([child.stdout], [], [], 300)  # a hung child fails, not hangs
        reply = child.stdout.readline() if ready else "(no reply in 300 s)"
        assert reply == "done\n", f"the fresh process failed: {reply!r}, exit code {child.poll()}"

    yield load
    child.stdin.close()
    assert child.wait(timeout=60) == 0


@pytest.fixture(scope="module", params=sorted(FAMILIES))
def family(request):
    model, x = trained(request.param)
    return request.param, model, x


@pytest.fixture(scope="module")
def tflite_files(family, tmp_path_factory):
    """{quantization: .tflite path} of the family's sampler, converted from one traced graph."""
    _, model, _ = family
    directory = tmp_path_factory.mktemp("tflite")
    return export.tflite_variants(model, {q: str(directory / f"{q}.tflite") for q in TOLERANCES})


def _noise(model, n, seed=0):
    return np.random.default_rng(seed).standard_normal((n, model.noise_dim)).astype(np.float32)


@pytest.fixture(scope="module")
def keras_reference(family):
    """What Keras makes of the noise the TFLite files are compared on: computed once per
    family for the four quantizations' tests."""
    _, model, _ = family
    noise = _noise(model, 1000, seed=1)
    z = np.asarray(model.latent_from_noise(noise[:16]))
    return noise, np.asarray(model.sample_from_noise(noise)), z, np.asarray(model.decode(z).mean())


def test_saved_model_in_a_fresh_process_matches_keras(family, fresh_process, tmp_path):
    name, model, x = family
    version_dir = export.saved_model(model, str(tmp_path / "served"), version=3)
    assert version_dir.endswith(os.path.join("served", "3"))
    noise = _noise(model, 37)
    inputs, outputs = str(tmp_path / "in.npz"), str(tmp_path / "out.npz")
    np.savez(inputs, noise=noise, x=x[:5])
    fresh_process(version_dir, inputs, outputs)
    served = np.load(outputs)
    for batch in (1, 37):
        np.testing.assert_allclose(served[f"samples_{batch}"], model.sample_from_noise(noise[:batch]),
                                   atol=1e-6, err_msg=f"{name} batch {batch}")
    np.testing.assert_allclose(served["decode"], model.decode(noise[:9]).mean(), atol=1e-6)
    posterior = model.encode(x[:5])
    np.testing.assert_allclose(served["loc"], posterior.mean(), atol=1e-5)
    np.testing.assert_allclose(served["scale"], posterior.stddev(), atol=1e-5)
    # The served score is the negative ELBO at one posterior draw with a fixed seed:
    # the model's own ELBO at that seed must give the same numbers.
    expected_score = -model.elbo(x[:5], seed=graphs.SCORE_SEED)
    np.testing.assert_allclose(served["score"], expected_score, rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize("quantization", ["float32", "float16", "dynamic", "int8"])
def test_tflite_matches_keras_within_documented_tolerance(family, tflite_files, keras_reference,
                                                         quantization):
    name = family[0]
    sampler = EdgeSampler(tflite_files[quantization])
    noise, expected, z, decoded = keras_reference
    got = np.concatenate([sampler.sample_from_noise(noise[i:i + 64]) for i in range(0, 1000, 64)])
    single = np.concatenate([sampler.sample_from_noise(noise[i:i + 1]) for i in range(8)])
    max_tol, mean_tol = TOLERANCES[quantization]
    error = np.abs(got - expected)
    assert error.max() <= max_tol and error.mean() <= mean_tol, (name, error.max(), error.mean())
    np.testing.assert_allclose(single, got[:8], atol=max_tol)  # batch 1 == batch 64
    np.testing.assert_allclose(sampler.decode(z), decoded, atol=max_tol)
    assert sampler.metadata["parity"]["finite"]
    assert sampler.quantization == quantization


# int8 input and output are a converter setting around whatever the graph is: one dense and
# one convolutional hierarchy cover it (every family's int8 graph is checked above).
@pytest.mark.parametrize("name", ["VAE-mlp", "HVAE-conv"])
def test_int8_io_takes_and_returns_int8_inside_the_file(name, tmp_path):
    model, _ = trained(name)
    path = export.tflite(model, str(tmp_path / "int8io.tflite"), quantization="int8", int8_io=True)
    sampler = EdgeSampler(path)
    details = sampler._runners["sample_from_noise"].get_input_details()["noise"]
    assert details["dtype"] == np.int8
    noise = _noise(model, 200, seed=2)
    error = np.abs(sampler.sample_from_noise(noise) - np.asarray(model.sample_from_noise(noise)))
    # The noise itself is quantized on the way in, which adds to the int8 error.
    assert error.mean() <= 2 * TOLERANCES["int8"][1], (name, error.mean())
