"""zoo.VAEGAN: three networks, three optimizers, the adversarial losses and gating."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import zoo
from tests.families import binary_images
from tests.harness import ModelHarness
from zoo import losses


def _conv(**kwargs):
    args = dict(input_shape=(28, 28, 1), latent_dim=6, network="conv", hidden_dims=(8, 16),
                discriminator_dims=(8, 16), seed=0)
    return zoo.VAEGAN(**{**args, **kwargs})


class TestMLPSpectralVAEGAN(ModelHarness):
    def make_model(self):
        return zoo.VAEGAN(input_shape=(28, 28, 1), latent_dim=6, hidden_dims=(48,),
                          discriminator_dims=(32, 16), spectral_norm=True, equilibrium=None, seed=0)

    def make_data(self):
        return binary_images()


def test_one_step_updates_all_three_networks_with_their_own_optimizers():
    model = _conv(equilibrium=None)  # no gating: every part must move
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    parts = {"encoder": model.encoder_variables, "decoder": model.decoder_variables,
             "discriminator": model.discriminator_variables}
    before = {k: [np.array(v) for v in vs] for k, vs in parts.items()}
    model.fit(binary_images(n=32), batch_size=32, epochs=1, verbose=0)
    for part, variables in parts.items():
        moved = [not np.array_equal(np.asarray(v), b) for v, b in zip(variables, before[part])]
        assert any(moved), f"no {part} weight changed"
    for optimizer in (model.optimizer, model.decoder_optimizer, model.discriminator_optimizer):
        assert int(optimizer.iterations) == 1
    assert model.decoder_optimizer is not model.optimizer  # separate state
    # The parts do not overlap: each weight is trained by exactly one optimizer.
    ids = [id(v) for vs in parts.values() for v in vs]
    assert len(ids) == len(set(ids)) == len(model.trainable_variables)


def test_the_discriminator_loss_responds_to_real_versus_fake():
    model = _conv(equilibrium=None)
    # Eager: 16 steps run faster than the train step traces (the suite traces it elsewhere).
    model.compile(optimizer=keras.optimizers.Adam(2e-3), run_eagerly=True)
    x = binary_images(n=64)
    model.fit(x, batch_size=32, epochs=8, verbose=0)
    real_logits, _ = model.discriminator(x)
    noise = (np.random.default_rng(9).uniform(size=x.shape) > 0.5).astype(np.float32)
    fake_logits, _ = model.discriminator(noise)
    # Trained a little, D scores data above salt-and-pepper noise, and its loss on a
    # (real, real) pair is far above its loss on (real, fake).
    assert np.mean(real_logits) > np.mean(fake_logits)
    real, fake_as_real = losses.discriminator_loss(real_logits, real_logits)
    real2, fake = losses.discriminator_loss(real_logits, fake_logits)
    assert float(fake) < float(fake_as_real)


def test_equilibrium_gates_pause_the_player_that_is_ahead():
    train_d, train_g = losses.equilibrium_gates(tf.constant(0.1), tf.constant(0.2))  # D far ahead
    assert not bool(train_d) and bool(train_g)
    train_d, train_g = losses.equilibrium_gates(tf.constant(1.5), tf.constant(1.2))  # D far behind
    assert bool(train_d) and not bool(train_g)
    train_d, train_g = losses.equilibrium_gates(tf.constant(0.1), tf.constant(1.5))  # both odd
    assert bool(train_d) and bool(train_g)  # never both paused
    train_d, train_g = losses.equilibrium_gates(tf.constant(0.7), tf.constant(0.65))
    assert bool(train_d) and bool(train_g)


def test_a_paused_discriminator_is_not_updated_and_not_counted_as_a_skip():
    model = _conv(equilibrium=50.0, margin=0.0)  # losses ~0.7 < 50: D is always "ahead"
    model.compile(optimizer="adam")
    before = [np.array(v) for v in model.discriminator_variables]
    logs = model.fit(binary_images(n=64), batch_size=32, epochs=1, verbose=0).history
    for v, b in zip(model.discriminator_variables, before):
        np.testing.assert_array_equal(np.asarray(v), b)
    assert logs["discriminator_trained"][-1] == 0.0
    assert int(model.discriminator_optimizer.iterations) == 0
    assert logs["skipped_steps"][-1] == 0.0


def test_feature_reconstruction_is_half_the_squared_distance():
    a = tf.constant([[[1.0, 2.0]], [[0.0, 0.0]]])
    b = tf.constant([[[1.0, 0.0]], [[3.0, 4.0]]])
    np.testing.assert_allclose(losses.feature_reconstruction(a, b), [2.0, 12.5])


def test_vaegan_trains_under_mirrored_strategy(mirrored):
    with mirrored.scope():
        model = _conv(spectral_norm=True)
        model.compile(optimizer=keras.optimizers.Adam(1e-3))
    history = model.fit(tf.data.Dataset.from_tensor_slices(binary_images(n=128)).batch(32),
                        epochs=2, verbose=0).history
    assert np.all(np.isfinite(history["loss"]))
    assert int(model.decoder_optimizer.iterations.numpy()) == 8


def test_fit_without_compile_is_refused_clearly():
    model = _conv()
    with pytest.raises(ValueError, match="compile"):
        model.fit(binary_images(n=32), epochs=1, verbose=0)


@pytest.mark.parametrize("kwargs,fragment", [
    (dict(gamma=-1.0), "gamma"),
    (dict(feature_layer=5), "feature_layer must index"),
    (dict(equilibrium=0.0), "equilibrium"),
    (dict(discriminator_dims=(8, 0)), "hidden_dims"),
])
def test_bad_arguments_are_named(kwargs, fragment):
    with pytest.raises(ValueError, match=fragment):
        _conv(**kwargs)


def test_sample_weights_are_refused_by_name():
    # Its adversarial losses are batch means: weights would be silently ignored.
    model = _conv()
    model.compile(optimizer="adam")
    x = binary_images(n=32)
    data = tf.data.Dataset.from_tensor_slices((x, np.zeros(32), np.ones(32, np.float32))).batch(16)
    with pytest.raises(ValueError, match="sample_weight"):
        model.fit(data, epochs=1, verbose=0)
