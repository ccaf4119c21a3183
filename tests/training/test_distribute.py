"""`fit` under tf.distribute.MirroredStrategy on two logical CPU devices."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import zoo


def _train(x, strategy, seed, init_weights, epochs=4):
    with strategy.scope():
        model = zoo.VAE(input_shape=(28, 28, 1), latent_dim=8, hidden_dims=(128, 64), seed=seed)
        model.set_weights(init_weights)
        # Plain SGD: Adam is invariant to the gradient's scale and would hide a wrong
        # reduction over replicas.
        model.compile(optimizer=keras.optimizers.SGD(0.001))
    ds = tf.data.Dataset.from_tensor_slices(x).batch(128)
    history = model.fit(ds, epochs=epochs, verbose=0).history
    return np.array(history["loss"]), model


def test_mirrored_on_two_devices_follows_the_single_device_trajectory(mnist_small, mirrored):
    x = mnist_small[0][:1024]
    reference = zoo.VAE(input_shape=(28, 28, 1), latent_dim=8, hidden_dims=(128, 64), seed=0)
    init = reference.get_weights()
    single = tf.distribute.OneDeviceStrategy("/cpu:0")

    loss_single, _ = _train(x, single, seed=1, init_weights=init)
    loss_other_seed, _ = _train(x, single, seed=2, init_weights=init)
    loss_mirrored, model = _train(x, mirrored, seed=1, init_weights=init)

    # The replicas draw their own posterior noise, so the runs cannot match bit for bit;
    # they must match as closely as two single-device runs that differ only in the
    # noise seed. A wrong gradient scaling (summing instead of averaging over replicas)
    # doubles the step size and shows up as a gap far above that.
    noise_gap = np.max(np.abs(loss_single - loss_other_seed))
    mirrored_gap = np.max(np.abs(loss_single - loss_mirrored))
    assert mirrored_gap <= 3 * noise_gap + 0.5, (loss_single, loss_mirrored, loss_other_seed)
    assert loss_mirrored[-1] < loss_mirrored[0] - 5  # and it learns (SGD is slow: ~12 nats)
    assert np.all(np.isfinite(model.sample(2, seed=0)))


def test_one_step_per_call_under_a_strategy(mirrored):
    # Keras' multi-step loop fails under MirroredStrategy: "auto" is 1 there, and an
    # explicit N > 1 is refused before anything runs.
    with mirrored.scope():
        model = zoo.VAE(input_shape=(28, 28, 1), latent_dim=2, hidden_dims=(8,), seed=0)
        model.compile(optimizer="adam")
        assert model.steps_per_execution == 1
        other = zoo.VAE(input_shape=(28, 28, 1), latent_dim=2, hidden_dims=(8,), seed=0)
        with pytest.raises(ValueError, match="steps_per_execution > 1 does not run under a "
                                             "distribution strategy.*Received: steps_per_execution"
                                             "=4 under MirroredStrategy"):
            other.compile(optimizer="adam", steps_per_execution=4)
