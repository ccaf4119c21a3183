"""EdgeSampler behaviour (in this environment, with LiteRT)."""

import numpy as np
import pytest

import export
from export.edge import EdgeSampler
from tests.families import FAMILIES


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    model = FAMILIES["VAE-mlp"]()
    path = export.tflite(model, str(tmp_path_factory.mktemp("edge") / "m.tflite"))
    return model, path


def test_batches_of_any_size_in_any_order(exported):
    model, path = exported
    edge = EdgeSampler(path)
    eps = np.random.default_rng(0).standard_normal((64, edge.noise_dim)).astype(np.float32)
    full = edge.sample_from_noise(eps)
    parts = [edge.sample_from_noise(eps[a:b]) for a, b in ((0, 1), (1, 6), (6, 64))]
    np.testing.assert_allclose(np.concatenate(parts), full, atol=1e-6)
    np.testing.assert_allclose(edge.sample_from_noise(eps[:1]), full[:1], atol=1e-6)
    assert full.shape == (64, 28, 28, 1) and full.dtype == np.float32


def test_sampling_is_seeded_and_temperature_scales_the_noise(exported):
    _, path = exported
    edge = EdgeSampler(path)
    np.testing.assert_array_equal(edge.sample(5, seed=3), edge.sample(5, seed=3))
    assert not np.array_equal(edge.sample(5, seed=3), edge.sample(5, seed=4))
    zeros = np.zeros((2, edge.noise_dim), np.float32)
    np.testing.assert_array_equal(edge.sample(2, seed=1, temperature=0.0), edge.sample_from_noise(zeros))


def test_decode_matches_the_keras_decoder_mean(exported):
    model, path = exported
    z = np.random.default_rng(1).standard_normal((7, 8)).astype(np.float32)
    np.testing.assert_allclose(EdgeSampler(path).decode(z), model.decode(z).mean(), atol=1e-5)


def test_bad_inputs_are_named(exported):
    _, path = exported
    edge = EdgeSampler(path)
    cases = [
        (lambda: edge.sample_from_noise(np.zeros((2, 9), np.float32)), ValueError, "eps must have shape [batch, 8]"),
        (lambda: edge.sample_from_noise(np.zeros(8, np.float32)), ValueError, "Add a batch axis"),
        (lambda: edge.sample_from_noise(np.zeros((2, 8, 1), np.float32)), ValueError, "eps must have shape"),
        (lambda: edge.sample_from_noise(np.full((2, 8), np.nan, np.float32)), ValueError, "finite"),
        (lambda: edge.sample_from_noise(np.zeros((0, 8), np.float32)), ValueError, "at least one row"),
        (lambda: edge.sample_from_noise([["a"] * 8]), TypeError, "numeric"),
        (lambda: edge.sample_from_noise("noise"), TypeError, "numeric"),
        (lambda: edge.decode(np.zeros((2, 3), np.float32)), ValueError, "z must have shape [batch, 8]"),
        (lambda: edge.sample(0), ValueError, "num_samples must be a positive integer"),
        (lambda: edge.sample(2.5), ValueError, "num_samples"),
        (lambda: edge.sample(2, temperature=-1.0), ValueError, "temperature"),
    ]
    for call, error, fragment in cases:
        with pytest.raises(error) as info:
            call()
        assert fragment in str(info.value), (fragment, str(info.value))


def test_bad_files_are_named(tmp_path):
    import tensorflow as tf

    with pytest.raises(ValueError, match="No such .tflite file"):
        EdgeSampler(str(tmp_path / "missing.tflite"))
    with pytest.raises(ValueError, match="No such .tflite file"):
        EdgeSampler(str(tmp_path))
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"\x00" * 64)
    with pytest.raises(ValueError, match="Not a TFLite model"):
        EdgeSampler(str(junk))
    # A real TFLite model, but not one of ours: no vaezoo metadata.
    fn = tf.function(lambda x: {"y": 2.0 * x}, input_signature=[tf.TensorSpec([None, 3])])
    plain = tmp_path / "plain.tflite"
    plain.write_bytes(tf.lite.TFLiteConverter.from_concrete_functions(
        [fn.get_concrete_function()]).convert())
    with pytest.raises(ValueError, match="has no vaezoo metadata"):
        EdgeSampler(str(plain))
    with pytest.raises(TypeError, match="path must be a path"):
        EdgeSampler(3)


def test_num_threads_is_validated(exported):
    _, path = exported
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="num_threads must be a positive integer"):
            EdgeSampler(path, num_threads=bad)
    assert EdgeSampler(path, num_threads=2).sample(1, seed=0).shape == (1, 28, 28, 1)


def test_a_colour_sampler_gives_8bit_images_ready_for_png(tmp_path):
    from PIL import Image

    import zoo
    from zoo import likelihoods

    model = zoo.VAE(input_shape=(16, 16, 3), latent_dim=6, network="conv", hidden_dims=(8, 16),
                    likelihood=likelihoods.DiscretizedLogisticMixture(3), seed=0)
    path = export.tflite(model, str(tmp_path / "colour.tflite"))
    edge = EdgeSampler(path)
    eps = np.random.default_rng(0).standard_normal((5, 6)).astype(np.float32)
    floats = edge.sample_from_noise(eps)
    # The mixture's closed-form mean runs in the TFLite graph as in Keras.
    np.testing.assert_allclose(floats, model.sample_from_noise(eps), atol=1e-5)
    images = edge.sample_from_noise(eps, dtype="uint8")
    assert images.dtype == np.uint8 and images.shape == (5, 16, 16, 3)
    np.testing.assert_array_equal(images, np.round(np.clip(floats, 0, 1) * 255))
    Image.fromarray(images[0]).save(tmp_path / "sample.png")
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "sample.png")), images[0])
    assert edge.sample(2, seed=0, dtype="uint8").dtype == np.uint8
    with pytest.raises(ValueError, match="dtype='int16'"):
        edge.sample(2, dtype="int16")


def test_a_sharp_colour_sampler_stays_finite_in_tflite(tmp_path):
    import zoo
    from zoo import likelihoods

    model = zoo.VAE(input_shape=(8, 8, 3), latent_dim=4, network="conv", hidden_dims=(8,),
                    likelihood=likelihoods.DiscretizedLogisticMixture(2), seed=0)
    # A trained decoder's scales reach the floor (about 1e-3): the mean's softplus then sees
    # arguments of several hundred, where a naive log(exp(x) + 1) is inf.
    head = model.decoder.head
    bias = head.bias.numpy().reshape(3, 8)  # [channels, 4 K]: logits, loc, log-scale, coeff
    bias[:, 4:6] = -40.0
    head.bias.assign(bias.reshape(-1))
    eps = np.random.default_rng(0).standard_normal((4, 4)).astype(np.float32)
    expected = np.asarray(model.sample_from_noise(eps))
    assert np.all(np.isfinite(expected))
    got = EdgeSampler(export.tflite(model, str(tmp_path / "sharp.tflite"))).sample_from_noise(eps)
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_uint8_output_is_for_images_only(tmp_path):
    import zoo

    model = zoo.VAE(input_shape=(12,), latent_dim=2, hidden_dims=(8,), likelihood="gaussian")
    edge = EdgeSampler(export.tflite(model, str(tmp_path / "rows.tflite")))
    with pytest.raises(ValueError, match=r"outputs have shape \[12\]"):
        edge.sample(1, dtype="uint8")
