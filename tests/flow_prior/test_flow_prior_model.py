"""zoo.FlowPriorVAE and the flows under it: densities, invertibility, training, export."""

import tempfile

import keras
import numpy as np
import pytest
import tensorflow as tf

import zoo
from tests.families import binary_images
from tests.harness import ModelHarness
from zoo import flows, priors

FLOWS = ["realnvp", "maf"]


def _perturbed_prior(flow, latent_dim=4, num_flows=3, seed=0, scale=0.4):
    """A flow prior with random weights everywhere (a fresh one is the identity)."""
    prior = priors.FlowPrior(latent_dim, flow=flow, num_flows=num_flows, hidden_units=(16,))
    prior.build()
    rng = np.random.default_rng(seed)
    for w in prior.weights:
        w.assign(rng.normal(scale=scale, size=w.shape).astype(np.float32))
    return prior


class TestMAFPriorVAE(ModelHarness):
    def make_model(self):
        return zoo.FlowPriorVAE(input_shape=(28, 28, 1), latent_dim=6, network="conv",
                                hidden_dims=(8, 16), flow="maf", num_flows=2,
                                flow_hidden_units=(16, 16), seed=0)

    def make_data(self):
        return binary_images()


@pytest.mark.parametrize("flow", FLOWS)
def test_log_density_matches_a_numerical_change_of_variables(flow):
    prior = _perturbed_prior(flow)
    z = tf.constant(np.random.default_rng(1).normal(size=(6, 4)), tf.float32)
    bijector = prior.bijector()
    # Independent of the bijectors' own log-det: autodiff Jacobian of f^{-1}, slogdet.
    with tf.GradientTape() as tape:
        tape.watch(z)
        eps = bijector.inverse(z)
    jacobian = tape.batch_jacobian(eps, z)  # [6, 4, 4]
    _, logdet = np.linalg.slogdet(jacobian.numpy().astype(np.float64))
    base = priors.standard_normal(4).log_prob(eps).numpy()
    np.testing.assert_allclose(prior.distribution().log_prob(z), base + logdet, atol=1e-4)


@pytest.mark.parametrize("flow", FLOWS)
def test_a_two_dimensional_flow_density_integrates_to_one(flow):
    prior = _perturbed_prior(flow, latent_dim=2, num_flows=4, seed=2)
    grid = np.linspace(-12, 12, 801, dtype=np.float32)
    zz = np.stack(np.meshgrid(grid, grid), -1).reshape(-1, 2)
    density = np.exp(prior.distribution().log_prob(zz).numpy().astype(np.float64))
    total = density.sum() * (grid[1] - grid[0]) ** 2
    # A 0.03 grid over [-12, 12]^2: the Riemann sum is within 1% of 1 when the density
    # is smooth and its tails beyond 12 are negligible (log-scales bounded by 3).
    assert total == pytest.approx(1.0, abs=0.01)


@pytest.mark.parametrize("flow", FLOWS)
def test_the_flow_inverts_to_1e_5(flow):
    # Weights at scale 0.2 move the flow far from the identity (|z| up to ~6). At 0.4
    # codes reach |z| ~ 400 and float32 round trips err by ~1e-6 *relative*, which is
    # 1e-4 absolute: precision, not a defect.
    prior = _perturbed_prior(flow, latent_dim=8, num_flows=4, scale=0.2)
    eps = tf.constant(np.random.default_rng(3).normal(size=(64, 8)), tf.float32)
    z = prior.forward(eps)
    np.testing.assert_allclose(prior.bijector().inverse(z), eps, atol=1e-5)
    np.testing.assert_allclose(prior.bijector().forward(prior.bijector().inverse(z)), z, atol=1e-5)
    # The unrolled sampler (what export converts) is the same function as TFP's own.
    np.testing.assert_allclose(prior.forward(eps), prior.bijector().forward(eps), atol=1e-6)


def test_made_masks_are_autoregressive():
    layer = flows.MADE(5, hidden_units=(7, 7))
    layer.build((None, 5))
    for w in layer.weights:
        w.assign(np.random.default_rng(4).normal(size=w.shape).astype(np.float32))
    x = tf.constant(np.random.default_rng(5).normal(size=(1, 5)), tf.float32)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        shift, log_scale = layer(x)
    jacobian = tape.batch_jacobian(shift, x)[0].numpy()  # [outputs, inputs]
    # Output i may depend on inputs < i only: the Jacobian is strictly lower triangular.
    assert np.all(np.triu(jacobian) == 0)
    assert np.any(np.tril(jacobian, -1) != 0)


def test_a_mask_is_one_captured_constant_however_often_the_layer_runs():
    # The unrolled MAF sampler calls each MADE D times; a mask baked in as a graph constant
    # at each call put 128 copies of the masks into an exported SavedModel.
    # 16 x 16: tf.function bakes eager captures of at most 128 elements in by value.
    mask = np.tril(np.ones((16, 16), np.float32), -1)
    layer = flows.MaskedDense(16, mask)

    @tf.function
    def repeated(x):
        for _ in range(5):
            x = layer(x)
        return x

    graph = repeated.get_concrete_function(tf.TensorSpec([None, 16], tf.float32)).graph
    baked = [op for op in graph.get_operations()
             if op.type == "Const" and op.outputs[0].shape == (16, 16)]
    assert not baked
    captured = [t for t in graph.external_captures if t.shape == (16, 16) and t.dtype == tf.float32
                and np.array_equal(t.numpy(), mask)]
    assert len(captured) == 1


@pytest.mark.parametrize("flow", FLOWS)
def test_training_fits_the_prior_to_the_aggregate_posterior(flow, mnist_small):
    x_train = mnist_small[0][:1024]
    model = zoo.FlowPriorVAE(input_shape=(28, 28, 1), latent_dim=8, hidden_dims=(128,), flow=flow,
                             num_flows=3, flow_hidden_units=(64, 64), seed=0)
    model.compile(optimizer=keras.optimizers.Adam(2e-3))
    model.fit(x_train, batch_size=64, epochs=6, verbose=0)
    z = model.encode(x_train[:512]).sample(seed=tf.constant([1, 2]))  # aggregate-posterior draws
    learned = float(np.mean(model.log_prior(z)))
    standard = float(np.mean(priors.standard_normal(8).log_prob(z)))
    # The flow started as the identity (= N(0, I)); trained jointly, it now gives the
    # encoder's codes a clearly higher likelihood than N(0, I) does.
    assert learned > standard + 1.0, (learned, standard)


def test_the_nan_conversion_comes_from_untracked_keras_variables():
    """Why export goes through ExportArchive: the NaN/garbage seen when a TFP flow is
    converted to TFLite came from converting a plain tf.Module whose Keras 3 variables
    TFLite does not freeze. Through ExportArchive the same graph is exact."""
    from ai_edge_litert.interpreter import Interpreter

    prior = _perturbed_prior("realnvp", latent_dim=4)
    eps = np.random.default_rng(6).normal(size=(3, 4)).astype(np.float32)
    expected = prior.forward(eps).numpy()
    spec = [tf.TensorSpec([None, 4], tf.float32)]

    class Naive(tf.Module):
        def __init__(self):
            super().__init__()
            self.prior = prior

        @tf.function(input_signature=spec)
        def f(self, eps):
            return {"z": prior.forward(eps)}

    naive = Naive()
    flat = tf.lite.TFLiteConverter.from_concrete_functions([naive.f.get_concrete_function()],
                                                          naive).convert()
    got = Interpreter(model_content=flat).get_signature_runner()(eps=eps)["z"]
    assert not np.allclose(got, expected, atol=1e-3)  # wrong (garbage or NaN)

    def forward(eps):  # the argument's name is the signature's input name
        return {"z": prior.forward(eps)}

    archive = keras.export.ExportArchive()
    archive.track(prior)
    archive.add_endpoint("f", forward, input_signature=spec)
    with tempfile.TemporaryDirectory() as tmp:
        archive.write_out(tmp, verbose=False)
        flat = tf.lite.TFLiteConverter.from_saved_model(tmp, signature_keys=["f"]).convert()
    got = Interpreter(model_content=flat).get_signature_runner("f")(eps=eps)["z"]
    np.testing.assert_allclose(got, expected, atol=1e-5)


@pytest.mark.parametrize("kwargs,error,fragment", [
    (dict(latent_dim=1), ValueError, "latent_dim >= 2"),
    (dict(flow="glow"), ValueError, "flow must be one of"),
    (dict(num_flows=0), ValueError, "num_flows must be positive"),
    (dict(flow_hidden_units=()), ValueError, "hidden_units"),
    (dict(log_scale_bound=0.0), ValueError, "log_scale_bound"),
])
def test_bad_arguments_are_named(kwargs, error, fragment):
    args = dict(input_shape=(28, 28, 1), latent_dim=4)
    args.update(kwargs)
    with pytest.raises(error) as info:
        zoo.FlowPriorVAE(**args)
    assert fragment in str(info.value)


def test_a_coupling_network_built_for_another_size_is_named():
    network = flows.CouplingNetwork(3, hidden_units=(4,))
    fn = flows._shift_and_log_scale_fn(network)
    shift, log_scale = fn(tf.zeros([2, 5]), output_units=3)
    assert shift.shape == (2, 3) and log_scale.shape == (2, 3)
    with pytest.raises(ValueError, match="built for 3. Received: output_units=4"):
        fn(tf.zeros([2, 5]), output_units=4)


def test_a_prior_fitted_after_training_raises_the_held_out_elbo_and_keeps_the_networks(mnist_small):
    x_train, _, x_test, _ = mnist_small
    vae = zoo.VAE(input_shape=(28, 28, 1), latent_dim=8, hidden_dims=(128,), seed=0)
    vae.compile(optimizer=keras.optimizers.Adam(2e-3))
    vae.fit(x_train[:1024], batch_size=64, epochs=4, verbose=0)
    fitted = zoo.fit_flow_prior(vae, x_train[:1024], num_flows=3, flow_hidden_units=(32,),
                                epochs=10, batch_size=128)
    assert type(fitted) is zoo.FlowPriorVAE and len(fitted.prior_fit_history) == 10
    for name in ("encoder", "posterior_head", "decoder"):
        for a, b in zip(getattr(vae, name).weights, getattr(fitted, name).weights):
            np.testing.assert_array_equal(a.numpy(), b.numpy())
    # Same posteriors and decoder, so the bounds differ only by E_q[log p(z)]: on held-out
    # images the fitted prior must score the codes better than N(0, I) did.
    seed = tf.constant([3, 4])
    before = float(np.mean(vae.elbo(x_test[:300], num_samples=4, seed=seed)))
    after = float(np.mean(fitted.elbo(x_test[:300], num_samples=4, seed=seed)))
    assert after > before + 2.0, (before, after)
    assert fitted.prior_fit_history[-1] > fitted.prior_fit_history[0]
    assert fitted.sample(2, seed=0).shape == (2, 28, 28, 1)


@pytest.mark.parametrize("make, error, fragment", [
    (lambda: zoo.FlowPriorVAE(input_shape=(4,), latent_dim=2, hidden_dims=(8,)), TypeError,
     "FlowPriorVAE"),
    (lambda: zoo.VAE(input_shape=(4,), latent_dim=2, hidden_dims=(8,), num_classes=3),
     ValueError, "num_classes=3"),
])
def test_fit_flow_prior_refuses_models_it_cannot_refit(make, error, fragment):
    with pytest.raises(error, match=fragment):
        zoo.fit_flow_prior(make(), np.zeros((4, 4), np.float32))
