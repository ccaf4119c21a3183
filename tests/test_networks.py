"""Encoders and decoders: any input size, shapes as documented, config round trips."""

import keras
import numpy as np
import pytest

from zoo import networks


@pytest.mark.parametrize("upsampling", ["nearest", "transpose"])
@pytest.mark.parametrize("shape", [(28, 28, 1), (32, 32, 3), (13, 10, 2), (7, 9, 1)])
def test_conv_decoder_produces_exactly_the_data_shape(shape, upsampling):
    decoder = networks.ConvDecoder((*shape, 2), filters=(16, 8), num_res_blocks=1,
                                   upsampling=upsampling)
    decoder.build((None, 5))
    out = decoder(np.zeros((3, 5), np.float32))
    assert out.shape == (3, *shape, 2)
    encoder = networks.ConvEncoder(filters=(8, 16), num_res_blocks=1)
    encoder.build((None, *shape))
    features = encoder(np.zeros((3, *shape), np.float32))
    assert features.shape[0] == 3 and features.ndim == 2


def test_residual_blocks_start_as_the_identity():
    block = networks.ResidualBlock(4)
    x = np.random.default_rng(0).normal(size=(2, 5, 5, 4)).astype(np.float32)
    block.build(x.shape)
    np.testing.assert_allclose(block(x), x)


def test_mlp_decoder_reshapes_to_target():
    decoder = networks.MLPDecoder((6, 1), hidden_dims=(8,))
    decoder.build((None, 3))
    assert decoder(np.zeros((2, 3), np.float32)).shape == (2, 6, 1)


@pytest.mark.parametrize("layer", [
    networks.MLPEncoder((16, 8), "tanh"),
    networks.MLPDecoder((4, 2), (8,)),
    networks.ConvEncoder((4, 8), 5, 2, "elu"),
    networks.ConvDecoder((9, 9, 1, 1), (8, 4), 3, 1),
    networks.ConvDecoder((9, 9, 1, 1), (8, 4), 3, 1, upsampling="transpose"),
    networks.ResidualBlock(4, 3, "swish"),
])
def test_network_configs_round_trip(layer):
    config = keras.saving.serialize_keras_object(layer)
    clone = keras.saving.deserialize_keras_object(config)
    assert clone.get_config() == layer.get_config()


def test_unknown_upsampling_is_named():
    with pytest.raises(ValueError, match="upsampling must be one of"):
        networks.ConvDecoder((8, 8, 1, 1), upsampling="bilinear")


def test_conv_encoder_rejects_flat_data():
    encoder = networks.ConvEncoder()
    with pytest.raises(ValueError, match="height, width, channels"):
        encoder.build((None, 784))


@pytest.mark.parametrize("source,target", [((7, 7), (14, 14)), ((4, 5), (12, 15)),
                                           ((7, 7), (7, 7)), ((5, 7), (7, 9))])
def test_nearest_resize_equals_the_resize_op(source, target):
    import tensorflow as tf

    x = np.random.default_rng(0).standard_normal((2, *source, 3)).astype(np.float32)
    layer = networks.NearestResize(*target)
    expected = tf.image.resize(x, target, method="nearest").numpy()
    got = np.asarray(layer(x))
    assert got.shape == (2, *target, 3) == layer.compute_output_shape(x.shape)
    np.testing.assert_array_equal(got, expected)
