"""zoo.HVAE: the shared harness, the hierarchy's math, and each stabiliser."""

import keras
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

import zoo
from tests.families import binary_images
from tests.harness import ModelHarness
from zoo import losses
from zoo.hvae.hvae_layers import soft_clamp

tfd = tfp.distributions


def _mlp(**kwargs):
    return zoo.HVAE(input_shape=(28, 28, 1), latent_dims=(6, 4), hidden_dims=(48, 32), seed=0,
                    **kwargs)


class TestConvHVAE(ModelHarness):
    """Odd image size, three groups (two on one stage), discretized logistic."""

    def make_model(self):
        return zoo.HVAE(input_shape=(13, 10, 3), network="conv", hidden_dims=(8, 16),
                        latent_dims=(2, 3), groups_per_stage=2, num_res_blocks=1,
                        likelihood="discretized_logistic", seed=0)

    def make_data(self):
        rng = np.random.default_rng(1)
        return (rng.integers(0, 256, size=(96, 13, 10, 3)) / 255.0).astype(np.float32)


def test_groups_noise_and_latents_line_up():
    model = zoo.HVAE(input_shape=(28, 28, 1), network="conv", hidden_dims=(8, 16),
                     latent_dims=(2, 3), groups_per_stage=2, seed=0)
    # Generation order, top first: two groups of 7x7x3, then two of 14x14x2.
    assert model.latent_groups == (("z4", 147), ("z3", 147), ("z2", 392), ("z1", 392))
    assert model.noise_dim == 2 * 147 + 2 * 392 == model.latent_shape[0]
    eps = np.random.default_rng(0).standard_normal((3, model.noise_dim)).astype(np.float32)
    z = model.latent_from_noise(eps)
    np.testing.assert_allclose(model.decode(z).mean(), model.sample_from_noise(eps), atol=1e-6)
    assert model.encode(binary_images(n=2)).event_shape == (147,)
    terms = model.elbo_terms(binary_images(n=5), seed=0)
    assert terms["kl_units"].shape == (5, 4) and terms["kl_dims"].shape == (5, model.noise_dim)
    np.testing.assert_allclose(np.sum(terms["kl_units"], -1), np.sum(terms["kl_dims"], -1), rtol=1e-5)


def test_temperature_zero_decodes_the_prior_means():
    model = _mlp()
    zero_t = model.sample(3, seed=1, temperature=0.0)
    np.testing.assert_allclose(zero_t, model.sample_from_noise(np.zeros((3, model.noise_dim), np.float32)))


def test_group_kl_is_the_closed_form_and_matches_the_importance_weights():
    # With one sample, log w = log p(x|z) + sum_l [log p(z_l|.) - log q(z_l|.)], whose
    # expectation over z is the ELBO with the closed-form KLs: compare 4,000 draws.
    model = _mlp()
    # Eager steps: the fit only moves the weights off their initial values (where each
    # residual posterior equals its prior); tracing the train step cost more than the test.
    model.compile(optimizer="adam", run_eagerly=True)
    x = binary_images(n=64)
    model.fit(x, batch_size=32, epochs=3, verbose=0)
    one = model.log_likelihood(x[:8], num_samples=1, seed=0)  # shape [8]
    draws = np.stack([model.sample_log_weights(tf.constant(x[:8]), 500, tf.constant([s, 1]))
                      for s in range(8)]).reshape(-1, 8)  # 4,000 one-sample bounds
    elbo = np.stack([model.elbo(x[:8], seed=s) for s in range(200)])
    assert one.shape == (8,)
    stderr = np.sqrt(draws.var(0) / len(draws) + elbo.var(0) / len(elbo))
    assert np.all(np.abs(draws.mean(0) - elbo.mean(0)) < 5 * stderr + 1e-3)


def test_soft_clamp_bounds_and_is_identity_near_zero():
    x = tf.constant([-100.0, -1e-3, 0.0, 2e-3, 7.0, 1e4])
    y = soft_clamp(x, 5.0).numpy()
    assert np.all(np.abs(y) <= 5.0)  # tanh reaches exactly 1 in float32 far out
    np.testing.assert_allclose(y[1:4], x.numpy()[1:4], rtol=1e-5)
    assert soft_clamp(x, None) is x


def test_soft_clamp_keeps_latent_scales_bounded_even_for_wild_inputs():
    c, floor = 2.0, 1e-3
    model = _mlp(soft_clamp=c, min_scale=floor)
    wild = np.full((2, 28, 28, 1), 1.0, np.float32)
    for head in model.posterior_heads:  # push every posterior output far out
        head.output_layer.bias.assign(np.full(head.output_layer.bias.shape, 1e3, np.float32))
    kl = model.elbo_terms(wild, seed=0)["kl_dims"].numpy()
    assert np.all(np.isfinite(kl))  # unclamped, a log-scale of 1e3 overflows to inf
    # Per dimension, KL = log(sp/sq) + (sq^2 + dm^2) / (2 sp^2) - 1/2 with |dm| <= c,
    # sp >= e^-c + floor and sq/sp in [e^-c, e^c + floor/sp]: bounded by
    sp_min = np.exp(-c) + floor
    ratio_max = np.exp(c) + floor / sp_min
    bound = c + ratio_max**2 / 2 + c**2 / (2 * sp_min**2) - 0.5
    assert kl.max() <= bound


def test_free_bits_floor_each_group_in_the_loss():
    model = _mlp(free_bits=3.0)
    model.compile(optimizer="adam")
    logs = model.evaluate(binary_images(n=32), batch_size=32, return_dict=True, verbose=0)
    # Untrained: the residual posterior equals the prior, every group's KL is ~0, so
    # the loss is the reconstruction plus 2 groups x 3 nats.
    assert logs["kl"] < 0.5
    assert logs["loss"] == pytest.approx(logs["reconstruction"] + 2 * 3.0, rel=1e-5)


def test_kl_balancing_reweights_groups_only_during_warm_up():
    kl = tf.constant([[4.0, 0.1], [6.0, 0.1]])  # group 1 carries far more per variable
    sizes = [10, 10]
    balanced = float(losses.balanced_kl_penalty(kl, sizes))
    # c = (5.01, 0.11) / 0.5, normalised to mean 1 -> (1.957, 0.043): 1.957*5 + 0.043*0.1
    assert balanced == pytest.approx(1.957 * 5.0 + 0.043 * 0.1, rel=2e-3)
    assert balanced > float(losses.kl_penalty(kl))  # the big group is pushed harder
    model = _mlp(kl_balancing=True, kl_warmup_steps=10)
    kl_groups = tf.constant([[3.0, 0.2]] * 4)
    during = float(model.kl_loss(kl_groups, step=4))  # weight 0.5
    after = float(model.kl_loss(kl_groups, step=50))  # weight 1: plain sum
    assert after == pytest.approx(3.2)
    assert during == pytest.approx(0.5 * float(losses.balanced_kl_penalty(kl_groups, [4, 6])), rel=1e-5)


def test_per_group_metrics_reach_the_progress_bar_and_logs():
    model = _mlp()
    # Eagerly: the logs are the same dict in graph mode, which the harness's fit checks.
    model.compile(optimizer="adam", run_eagerly=True)
    logs = model.fit(binary_images(n=64), batch_size=32, epochs=2, verbose=0).history
    for key in ("kl_z1", "kl_z2", "active_units_z1", "active_units_z2", "skipped_steps"):
        assert key in logs, key
    assert logs["active_units"][-1] == logs["active_units_z1"][-1] + logs["active_units_z2"][-1]


def test_skips_are_counted_on_the_hierarchy_too():
    model = _mlp(skip_threshold=1e-9, max_consecutive_skips=1)
    model.compile(optimizer="adam")
    model.fit(binary_images(n=64), batch_size=16, epochs=1, verbose=0)
    assert float(model.update_guard.skipped_steps) == 2.0  # skip, forced, skip, forced
    assert int(model.optimizer.iterations) == 2


@pytest.mark.parametrize("kwargs,error,fragment", [
    (dict(hidden_dims=(32,)), ValueError, "at least 2 latent groups"),
    (dict(latent_dims=(4, 4, 4)), ValueError, "one entry per stage"),
    (dict(latent_dims=(4, 0)), ValueError, "latent_dims"),
    (dict(groups_per_stage=0), ValueError, "groups_per_stage must be positive"),
    (dict(soft_clamp=-1.0), ValueError, "soft_clamp"),
    (dict(network="conv", input_shape=(784,)), ValueError, "network='conv' needs image data"),
])
def test_bad_arguments_are_named(kwargs, error, fragment):
    args = dict(input_shape=(28, 28, 1))
    args.update(kwargs)
    with pytest.raises(error) as info:
        zoo.HVAE(**args)
    assert fragment in str(info.value)


def test_mirrored_training_runs_the_hierarchy(mirrored):
    with mirrored.scope():
        model = _mlp(gradient_clip_norm=500.0)
        model.compile(optimizer=keras.optimizers.Adamax(2e-3))
    history = model.fit(tf.data.Dataset.from_tensor_slices(binary_images(n=128)).batch(32),
                        epochs=3, verbose=0).history
    assert history["loss"][-1] < history["loss"][0]
