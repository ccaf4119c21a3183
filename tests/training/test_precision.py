"""Mixed precision and XLA for every registered family.

Under a mixed policy the networks compute in bfloat16 / float16 while every distribution,
log-density, KL and loss is float32; under "mixed_float16" each optimizer scales its own
loss and the update guard still clips, thresholds, pauses and skips. `jit_compile=True`
trains every family. Each family is trained a few steps from the same initial weights,
seed and data in every mode and compared with its float32 run.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

import zoo
from tests.families import binary_images
from zoo import families
from zoo.training import precision
from zoo.training.step import TrainablePart, build_optimizers

NAMES = [family.name for family in families.all_families()]
EPOCHS, BATCH = 2, 32  # 64 images: 4 optimizer steps


@pytest.fixture(autouse=True)
def _float32_policy():
    """Every test starts and ends under the float32 global policy: the policy is
    process-wide, and a test failing under a mixed one must not leak it into the next."""
    keras.mixed_precision.set_dtype_policy("float32")
    yield
    keras.mixed_precision.set_dtype_policy("float32")


def _data():
    return binary_images(n=EPOCHS * BATCH)


def _build(name, **overrides):
    keras.utils.set_random_seed(1234)  # the same initial weights in every mode
    return families.get(name).small_model(**overrides)


def _train(name, optimizer=None, jit_compile="auto", run_eagerly=False, **overrides):
    model = _build(name, **overrides)
    model.compile(optimizer=optimizer or keras.optimizers.Adam(1e-3), jit_compile=jit_compile,
                  run_eagerly=run_eagerly)
    history = model.fit(_data(), batch_size=BATCH, epochs=EPOCHS, verbose=0, shuffle=False).history
    return model, history


_FLOAT32_LOSS = {}


def _float32_loss(name):
    """The last epoch's loss of the family's float32 run (trained once per worker).

    Eagerly: four eager steps cost less than tracing the step (the VAE-GAN's three
    updates, the hierarchy), and give the graph run's loss to ~1e-7 relative (measured:
    equal for the likelihood families, 2e-7 off for the VAE-GAN), far inside every
    tolerance below. Graph-mode float32 training is each family's harness test."""
    if name not in _FLOAT32_LOSS:
        _, history = _train(name, run_eagerly=True)
        _FLOAT32_LOSS[name] = history["loss"][-1]
    return _FLOAT32_LOSS[name]


# bfloat16 against float32 on the same weights, seed and data: same noise, so only rounding
# differs. bfloat16 keeps 8 significant bits (relative step 2^-8): each decoder logit is off
# by ~0.4 %, but these errors are independent across the 784 x 32 terms of the float32 sum
# and cancel; measured after 4 steps: < 1e-5 relative for the likelihood families. 1e-3
# leaves room for other CPUs' kernels and is still below the step of a bfloat16 number near
# 540 (4 nats, 7e-3 relative): a loss summed in bfloat16 would not pass reliably.
BF16_RTOL = 1e-3
# The VAE-GAN is further off (measured 2 %): its feature loss is a squared difference of two
# nearly equal bfloat16 feature maps (cancellation), and its equilibrium gates are steps, so
# a rounding can switch a part on or off. 10 % still fails for a broken loss (e.g. float16
# overflow to inf, or a gate stuck).
BF16_RTOL_VAEGAN = 0.1
# XLA draws other training noise from the same stateless seeds (its random bit generator is
# not TensorFlow's), so an XLA run differs from the float32 run as a run with another seed
# does. Measured over 4 seeds, the last-epoch loss has a standard deviation of <= 0.2 nats
# (likelihood families, losses ~540) and 0.04 (VAE-GAN, ~21): the difference of two runs
# has sd <= 0.3 and 0.06; 2 nats and 0.4 are ~7 of those, and well below what a wrong term
# would move (a dropped KL is ~10 nats here).
XLA_ATOL = {"vaegan": 0.4}
XLA_ATOL_DEFAULT = 2.0


def _bernoulli_log_prob_float64(logits, x):
    """log p(x | logits) per example in float64: sum x l - softplus(l) over pixels."""
    logits = np.asarray(logits, np.float64).reshape(len(x), -1)
    x = np.asarray(x, np.float64).reshape(len(x), -1)
    return np.sum(x * logits - np.logaddexp(0.0, logits), axis=1)


# Trained eagerly under bfloat16: theirs are this file's most expensive steps to trace
# (about three times the cost of the eager steps), and their layers and distributions
# compute in the same dtypes either way. What only a graph checks is shared by every
# family and is still traced under a mixed policy here: the update guard's conds (the VAE
# and the IWAE, in bfloat16) and the VAE-GAN's gates (in float16 by
# `test_the_vaegan_pause_holds_under_float16`, in float32 under XLA). Their bfloat16
# evaluation graphs (`elbo`, `log_likelihood`, `sample`) are traced below as for every family.
EAGER_BF16 = {"hvae", "flow_vae", "vaegan"}


@pytest.mark.parametrize("name", NAMES)
def test_every_family_trains_under_mixed_bfloat16_with_float32_distributions(name, tmp_path):
    reference = _float32_loss(name)
    keras.mixed_precision.set_dtype_policy("mixed_bfloat16")
    model, history = _train(name, run_eagerly=name in EAGER_BF16)
    keras.mixed_precision.set_dtype_policy("float32")
    x = _data()[:8]

    # The layers compute in bfloat16 (the variables stay float32).
    assert model.dtype_policy.name == "mixed_bfloat16"
    assert "bfloat16" in {layer.compute_dtype for layer in model.layers}
    assert all(w.dtype == "float32" for w in model.weights)
    # A few steps: finite, nothing skipped, and close to the float32 run.
    for key, values in history.items():
        assert np.all(np.isfinite(values)), key
    assert history["skipped_steps"][-1] == 0.0
    rtol = BF16_RTOL_VAEGAN if name == "vaegan" else BF16_RTOL
    assert history["loss"][-1] == pytest.approx(reference, rel=rtol)

    # Distributions are float32, and so is what they compute.
    posterior = model.encode(x)
    z = model.posterior_sample(tf.constant(x), tf.constant([1, 2]))
    p_x = model.decode(z)
    assert posterior.dtype == p_x.dtype == z.dtype == tf.float32
    assert model.log_prior(z).dtype == tf.float32
    assert model.elbo(x, seed=0).dtype == tf.float32
    log_px = p_x.log_prob(x)
    assert log_px.dtype == tf.float32
    # The sum over pixels is float32-exact given the (bfloat16-computed) logits: a float32
    # sum of 784 terms is good to ~1e-6 relative, a bfloat16 one to ~4e-3.
    np.testing.assert_allclose(log_px, _bernoulli_log_prob_float64(p_x.distribution.logits, x),
                               rtol=2e-6)
    samples = model.sample(3, seed=0)
    assert samples.dtype == tf.float32 and samples.shape == (3, 28, 28, 1)
    assert np.all(np.isfinite(samples))
    log_likelihood = model.log_likelihood(x[:4], num_samples=8, seed=0)
    assert log_likelihood.dtype == tf.float32 and np.all(np.isfinite(log_likelihood))

    # Saved under the global policy, loaded under float32: the model keeps its policy.
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.dtype_policy.name == "mixed_bfloat16"
    assert {layer.compute_dtype for layer in loaded.layers} == \
        {layer.compute_dtype for layer in model.layers}
    np.testing.assert_array_equal(loaded.elbo(x, seed=3), model.elbo(x, seed=3))


def test_a_model_takes_its_own_dtype_policy_and_keeps_float32_heads():
    model = zoo.VAE(input_shape=(28, 28, 1), latent_dim=4, hidden_dims=(16,),
                    dtype="mixed_bfloat16")
    # The global policy is untouched, yet the model's layers compute in bfloat16 ...
    assert keras.config.dtype_policy().name == "float32"
    assert model.encoder.compute_dtype == model.decoder.compute_dtype == "bfloat16"
    assert model.encoder(binary_images(n=2)).dtype == tf.bfloat16
    # ... except the posterior head, pinned to float32 (small scales, the KL).
    assert model.posterior_head.compute_dtype == "float32"
    assert model.get_config()["dtype"] == "mixed_bfloat16"
    clone = zoo.VAE.from_config(model.get_config())
    assert clone.encoder.compute_dtype == "bfloat16"
    # A float32 model records its policy too, so a mixed global policy does not change it
    # when it is loaded.
    keras.mixed_precision.set_dtype_policy("mixed_bfloat16")
    plain = zoo.VAE.from_config(zoo.VAE(input_shape=(28, 28, 1), latent_dim=4, hidden_dims=(16,),
                                        dtype="float32").get_config())
    assert plain.encoder.compute_dtype == "float32"


def test_a_bad_dtype_is_refused_by_name():
    with pytest.raises(ValueError, match="dtype must be .* Received: dtype='float8'"):
        zoo.VAE(input_shape=(28, 28, 1), dtype="float8")
    assert keras.config.dtype_policy().name == "float32"  # not left half-set


@pytest.mark.parametrize("name", ["vae", "iwae"])  # the VAE-GAN: the tests below
def test_mixed_float16_trains_with_each_optimizer_scaling_its_own_loss(name):
    reference = _float32_loss(name)
    model, history = _train(name, dtype="mixed_float16")
    optimizers = [part.optimizer for part in model.trainable_parts()]
    assert all(isinstance(o, keras.optimizers.LossScaleOptimizer) for o in optimizers)
    assert len({id(o.dynamic_scale) for o in optimizers}) == len(optimizers)  # one scale each
    for key, values in history.items():
        assert np.all(np.isfinite(values)), key
    # The small MLP's float16 gradients never overflowed at the initial scale: 4 updates.
    assert int(model.optimizer.iterations) == 4
    # float16 keeps 11 significant bits, finer than bfloat16: the same tolerance holds.
    assert history["loss"][-1] == pytest.approx(reference, rel=BF16_RTOL)
    assert model.elbo(_data()[:4], seed=0).dtype == tf.float32


def test_optimizers_given_to_the_vaegan_are_loss_scaled_too():
    model = _build("vaegan", dtype="mixed_float16")
    model.compile(optimizer="adam", decoder_optimizer=keras.optimizers.Adam(2e-4),
                  discriminator_optimizer=keras.optimizers.LossScaleOptimizer(
                      keras.optimizers.Adam(1e-4), initial_scale=256.0))
    assert isinstance(model.decoder_optimizer, keras.optimizers.LossScaleOptimizer)
    assert float(model.decoder_optimizer.learning_rate) == pytest.approx(2e-4)
    assert float(model.discriminator_optimizer.dynamic_scale) == 256.0  # not wrapped twice
    # A model whose parts mix scaled and unscaled optimizers is refused: one of them would
    # train on gradients `scale` times off.
    variables = model.decoder_variables
    parts = [TrainablePart("encoder", keras.optimizers.LossScaleOptimizer(keras.optimizers.Adam()),
                           variables),
             TrainablePart("discriminator", keras.optimizers.Adam(), variables)]
    with pytest.raises(ValueError, match="encoder=LossScaleOptimizer, discriminator=Adam"):
        build_optimizers(parts)


def _vae(**kwargs):
    keras.utils.set_random_seed(1234)
    return zoo.VAE(input_shape=(28, 28, 1), latent_dim=4, hidden_dims=(32,), seed=0, **kwargs)


def _batches(x, size=16):
    return tf.data.Dataset.from_tensor_slices(x).batch(size)


def test_the_zoo_step_scales_the_loss_and_the_optimizer_handles_overflow():
    # At a scale of 2^40 every float16 gradient overflows, and only because the step scaled
    # the loss: the optimizer drops each update and halves its scale. These are not
    # skipped steps of the guard (the batch is fine), and the weights do not move.
    model = _vae(dtype="mixed_float16")
    model.compile(optimizer=keras.optimizers.LossScaleOptimizer(keras.optimizers.Adam(),
                                                                initial_scale=2.0**40))
    before = [np.array(w) for w in model.trainable_weights]
    model.fit(_batches(binary_images(n=64)), epochs=1, verbose=0)
    assert float(model.optimizer.dynamic_scale) == 2.0**36
    assert int(model.optimizer.iterations) == 0
    assert float(model.update_guard.skipped_steps) == 0.0
    for w, b in zip(model.trainable_weights, before):
        np.testing.assert_array_equal(np.asarray(w), b)


def test_a_nan_batch_under_float16_is_a_counted_skip_that_keeps_the_scale():
    x = binary_images(n=64)
    bad = x.copy()
    bad[16, 0, 0, 0] = np.nan  # the second batch's loss is NaN
    model = _vae(dtype="mixed_float16")
    model.compile(optimizer="adam")
    logs = model.fit(_batches(bad), epochs=1, verbose=0).history
    assert logs["skipped_steps"][-1] == 1.0
    assert int(model.optimizer.iterations) == 3
    assert float(model.optimizer.dynamic_scale) == 2.0**15  # the scale did not pay for it
    assert all(np.all(np.isfinite(np.asarray(w))) for w in model.weights)


def test_threshold_skips_apply_to_a_loss_scale_optimizer():
    # As test_guard's float32 case: every unscaled norm is above 1e-9, so the guard skips
    # 3 steps, forces 1, and so on; the old LossScaleOptimizer path bypassed the guard.
    model = _vae(dtype="mixed_float16", skip_threshold=1e-9, max_consecutive_skips=3)
    model.compile(optimizer="adam")
    model.fit(_batches(binary_images(n=128)), epochs=1, verbose=0)
    assert float(model.update_guard.skipped_steps) == 6.0
    assert int(model.optimizer.iterations) == 2


def test_clipping_and_the_reported_norm_are_those_of_the_unscaled_gradients():
    x = binary_images(n=16)
    runs = {}
    for dtype in ("float32", "mixed_float16"):
        model = _vae(dtype=dtype, gradient_clip_norm=0.5)
        before = [np.array(w) for w in model.trainable_weights]
        model.compile(optimizer=keras.optimizers.SGD(1.0))  # step = -clipped gradient
        logs = model.fit(_batches(x), epochs=1, verbose=0).history
        delta = np.sqrt(sum(np.sum((np.asarray(w) - b) ** 2)
                            for w, b in zip(model.trainable_weights, before)))
        runs[dtype] = (delta, logs["grad_norm"][-1])
    assert runs["mixed_float16"][0] == pytest.approx(0.5, rel=1e-3)
    # Same weights and noise: the norms differ by float16 rounding only (~1e-3), not by
    # the loss scale (2^15).
    assert runs["mixed_float16"][1] == pytest.approx(runs["float32"][1], rel=2e-2)
    assert runs["float32"][1] > 1.0  # clipping did act


def test_the_vaegan_pause_holds_under_float16():
    # The equilibrium gate pauses the discriminator every step; with loss scaling, the
    # guard used to hand the update straight to the optimizer and ignore the pause.
    # Without spectral normalization, which rewrites its kernels on every forward pass.
    model = _build("vaegan", dtype="mixed_float16", equilibrium=50.0, margin=0.0,
                   spectral_norm=False)
    model.compile(optimizer="adam")
    optimizers = [part.optimizer for part in model.trainable_parts()]
    assert all(isinstance(o, keras.optimizers.LossScaleOptimizer) for o in optimizers)
    assert len({id(o.dynamic_scale) for o in optimizers}) == 3  # a scale of its own each
    before = [np.array(v) for v in model.discriminator_variables]
    logs = model.fit(_data(), batch_size=BATCH, epochs=1, verbose=0).history
    for key, values in logs.items():
        assert np.all(np.isfinite(values)), key
    for v, b in zip(model.discriminator_variables, before):
        np.testing.assert_array_equal(np.asarray(v), b)
    assert int(model.discriminator_optimizer.iterations) == 0
    # The decoder was not paused: each of its 2 steps was applied or, if its float16
    # gradients overflowed, dropped by its optimizer at half the scale.
    decoder = model.decoder_optimizer
    halvings = np.log2(2.0**15 / float(decoder.dynamic_scale))
    assert int(decoder.iterations) + halvings == 2
    assert logs["skipped_steps"][-1] == 0.0


# XLA compiles a training step in 3-13 s here, most of this file's time: the suite checks
# the plain VAE, the flow prior (TFP bijectors) and the VAE-GAN (three optimizers, gates as
# tf.cond). benchmarks/speed/precision.py trains every family with XLA, in float32 and
# mixed_bfloat16.
@pytest.mark.parametrize("name", ["vae", "flow_vae", "vaegan"])
def test_xla_trains_like_the_graph(name):
    reference = _float32_loss(name)
    model, history = _train(name, jit_compile=True)
    assert model.jit_compile is True
    for key, values in history.items():
        assert np.all(np.isfinite(values)), key
    assert history["skipped_steps"][-1] == 0.0
    assert history["loss"][-1] == pytest.approx(reference, abs=XLA_ATOL.get(name, XLA_ATOL_DEFAULT))


def test_jit_compile_default_is_keras_own():
    plain = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    plain.compile(optimizer="adam", loss="mse")
    model = _vae()
    model.compile(optimizer="adam")
    assert model.jit_compile == plain.jit_compile  # "auto": False on a CPU-only machine


def test_bad_jit_compile_settings_are_refused_by_name(mirrored):
    with pytest.raises(ValueError, match="Received: jit_compile='yes'"):
        _vae().compile(optimizer="adam", jit_compile="yes")
    with mirrored.scope():
        model = _vae()
        with pytest.raises(ValueError, match="jit_compile=True is not supported under a "
                                             "distribution strategy with 2 replicas"):
            model.compile(optimizer="adam", jit_compile=True)
        model.compile(optimizer="adam")  # "auto" is fine: Keras turns XLA off there
    assert model.jit_compile is False


def test_policy_scope_restores_the_global_policy_after_an_error():
    with pytest.raises(RuntimeError):
        with precision.policy_scope("mixed_float16"):
            assert keras.config.dtype_policy().name == "mixed_float16"
            raise RuntimeError("boom")
    assert keras.config.dtype_policy().name == "float32"
