"""zoo.VAE: the shared harness on three configurations, plus VAE-specific behaviour."""

import keras
import numpy as np
import pytest

import zoo
from tests.harness import ModelHarness


def _binary_images(n=96, shape=(28, 28, 1), seed=0):
    rng = np.random.default_rng(seed)
    # Structured, not pure noise: a bright blob per image so there is something to learn.
    probs = rng.uniform(0.05, 0.2, size=(n, *shape))
    for i in range(n):
        r, c = rng.integers(0, shape[0] - 8), rng.integers(0, shape[1] - 8)
        probs[i, r:r + 8, c:c + 8] = 0.9
    return (rng.uniform(size=probs.shape) < probs).astype(np.float32)


class TestConvDiscretizedLogisticVAE(ModelHarness):
    """Odd image size, three channels, residual blocks: the conv path at full generality."""

    def make_model(self):
        return zoo.VAE(input_shape=(13, 10, 3), latent_dim=4, network="conv",
                       hidden_dims=(8, 16), num_res_blocks=1, likelihood="discretized_logistic",
                       seed=0)

    def make_data(self):
        rng = np.random.default_rng(1)
        return (rng.integers(0, 256, size=(96, 13, 10, 3)) / 255.0).astype(np.float32)


class TestTabularGaussianVAE(ModelHarness):
    unit_interval = False

    def make_model(self):
        return zoo.VAE(input_shape=(6,), latent_dim=2, hidden_dims=(16,),
                       likelihood=zoo.likelihoods.Gaussian(scale="predicted"), seed=0)

    def make_data(self):
        rng = np.random.default_rng(2)
        z = rng.normal(size=(96, 2))
        return (z @ rng.normal(size=(2, 6)) + 0.1 * rng.normal(size=(96, 6))).astype(np.float32)


def test_training_on_real_mnist_lowers_test_nll(mnist_small):
    x_train, _, x_test, _ = mnist_small
    model = zoo.VAE(input_shape=(28, 28, 1), latent_dim=16, hidden_dims=(256, 128), seed=0)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    before = -float(np.mean(model.log_likelihood(x_test[:200], num_samples=50, seed=0)))
    model.fit(x_train, batch_size=64, epochs=4, verbose=0)
    after = -float(np.mean(model.log_likelihood(x_test[:200], num_samples=50, seed=0)))
    # An untrained decoder scores ~784 * log 2 = 543 nats; four epochs on 2,000 images
    # reach well under 200 (a converged MLP VAE reaches ~87).
    assert before > 500 and after < 200, (before, after)


def test_beta_scales_the_kl_term_of_the_loss():
    x = _binary_images(n=32)
    losses = {}
    for beta in (1.0, 4.0):
        model = zoo.VAE(input_shape=(28, 28, 1), latent_dim=4, hidden_dims=(32,), beta=beta, seed=0)
        keras.utils.set_random_seed(0)
        model = zoo.VAE.from_config(model.get_config())
        model.compile(optimizer="adam")
        logs = model.evaluate(x, batch_size=32, return_dict=True, verbose=0)
        losses[beta] = logs
    # Same weights (same init seed), same noise: loss = reconstruction + beta * KL.
    for beta, logs in losses.items():
        assert logs["loss"] == pytest.approx(logs["reconstruction"] + beta * logs["kl"], rel=1e-5)
    assert losses[4.0]["kl"] == pytest.approx(losses[1.0]["kl"], rel=1e-6)


def test_kl_warmup_weight_follows_the_optimizer_step():
    x = _binary_images(n=32)
    model = zoo.VAE(input_shape=(28, 28, 1), latent_dim=4, hidden_dims=(32,), kl_warmup_steps=10,
                    seed=0)
    model.compile(optimizer=keras.optimizers.SGD(0.0))  # lr 0: weights and terms stay put
    for steps in (0, 4, 9, 30):
        model.optimizer.iterations.assign(steps)
        logs = model.evaluate(x, batch_size=32, return_dict=True, verbose=0)
        weight = min(1.0, (steps + 1) / 10)
        assert logs["loss"] == pytest.approx(logs["reconstruction"] + weight * logs["kl"], rel=1e-5)


def test_free_bits_floor_the_kl_of_an_untrained_model():
    # At initialisation q(z|x) ~ N(0, ~1): every unit's KL is far below 2 nats, so the
    # KL part of the loss is exactly latent_dim * free_bits.
    x = _binary_images(n=32)
    model = zoo.VAE(input_shape=(28, 28, 1), latent_dim=5, hidden_dims=(32,), free_bits=2.0, seed=0)
    model.compile(optimizer="adam")
    logs = model.evaluate(x, batch_size=32, return_dict=True, verbose=0)
    assert logs["kl"] < 5 * 2.0
    assert logs["loss"] == pytest.approx(logs["reconstruction"] + 5 * 2.0, rel=1e-5)


@pytest.mark.parametrize("kwargs,error,fragment", [
    (dict(latent_dim=0), ValueError, "latent_dim must be positive. Received: latent_dim=0"),
    (dict(latent_dim=-3), ValueError, "latent_dim=-3"),
    (dict(latent_dim=2.5), TypeError, "latent_dim"),
    (dict(likelihood="poisson"), ValueError, "likelihood must be one of"),
    (dict(likelihood=3), ValueError, "likelihood"),
    (dict(network="transformer"), ValueError, "network must be one of"),
    (dict(hidden_dims=(64, 0)), ValueError, "hidden_dims"),
    (dict(beta=-1.0), ValueError, "beta"),
    (dict(free_bits=float("nan")), ValueError, "free_bits"),
    (dict(kl_warmup_steps=-5), ValueError, "kl_warmup_steps"),
    (dict(activation="nope"), ValueError, "nope"),
    (dict(input_shape=(28, 0, 1)), ValueError, "input_shape"),
    (dict(input_shape=(784,), network="conv"), ValueError, "network='conv' needs image data"),
    (dict(encoder="mlp"), TypeError, "encoder must be a keras.layers.Layer"),
    (dict(decoder=keras.layers.Dense(3)), ValueError, "decoder must output"),
])
def test_bad_constructor_arguments_are_named(kwargs, error, fragment):
    args = dict(input_shape=(28, 28, 1), latent_dim=4)
    args.update(kwargs)
    with pytest.raises(error) as info:
        zoo.VAE(**args)
    assert fragment in str(info.value)


def test_custom_encoder_layer_is_used_and_serialized(tmp_path):
    encoder = zoo.networks.MLPEncoder(hidden_dims=(24,), activation="tanh")
    model = zoo.VAE(input_shape=(28, 28, 1), latent_dim=3, encoder=encoder, seed=0)
    assert model.encoder is encoder
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.encoder.hidden_dims == (24,) and loaded.encoder.activation == "tanh"
    x = _binary_images(n=4)
    np.testing.assert_array_equal(model.embed(x), loaded.embed(x))
