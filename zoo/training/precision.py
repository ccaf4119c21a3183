"""Mixed precision for zoo models: the dtype policy of a model, and loss scaling.

A zoo model takes a Keras dtype policy like any Keras layer, either from the global
policy (`keras.mixed_precision.set_dtype_policy("mixed_bfloat16")`) or as its own
`dtype=` argument (`zoo.VAE(..., dtype="mixed_bfloat16")`), which is saved with it. Under
a mixed policy the networks compute in bfloat16 or float16, with float32 weights; every
TFP distribution is built from parameters cast to float32 (`zoo.likelihoods`, the
posterior heads, `zoo.priors`, `zoo.flows`), so log-densities, KL terms, flows'
log-determinants and the loss are float32. A log-likelihood is a sum over hundreds of
pixels: in bfloat16 (8 significant bits) that sum alone would be off by about a nat.

With "mixed_float16", gradients that flow back through float16 activations underflow
unless the loss is scaled up first. Keras wraps the optimizer given to `compile` in a
`keras.optimizers.LossScaleOptimizer`; the zoo's training step scales each part's loss
with its own optimizer (`zoo.training.step`), and the update guard unscales the
gradients before it clips, compares with `skip_threshold` or pauses
(`zoo.training.guard`). Models with several optimizers (the VAE-GAN) wrap each one with
`loss_scaled_like`.
"""

import contextlib
import functools

import keras


@contextlib.contextmanager
def policy_scope(dtype):
    """Sets Keras' global dtype policy to `dtype` for the block, then restores it.

    A Keras layer does not hand its dtype policy to the layers it creates: each takes
    the global policy when it is constructed. A model given `dtype=` builds its layers
    inside this scope, so they compute as they would under that global policy, and
    layers pinned to float32 (`dtype="float32"`) stay pinned.

    Args:
      dtype: None (no change), a policy name such as "mixed_bfloat16", or a
        `keras.DTypePolicy`.
    """
    if dtype is None:
        yield
        return
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(_policy(dtype))
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def _policy(dtype):
    """`dtype` as a `keras.DTypePolicy`, or a `ValueError` naming it."""
    try:
        return keras.dtype_policies.get(dtype)  # a policy, its name or its config
    except (ValueError, TypeError):
        raise ValueError("dtype must be a Keras dtype policy or its name, e.g. 'float32', "
                         f"'mixed_bfloat16' or 'mixed_float16'. Received: dtype={dtype!r}") from None


def building_under_own_policy(init):
    """Wraps a model's `__init__` so that its layers are made under its `dtype=` policy.

    Args:
      init: the class's own `__init__`.

    Returns:
      The wrapped `__init__`, with the same signature (`inspect.signature` follows it).
    """

    @functools.wraps(init)
    def wrapped(self, *args, **kwargs):
        with policy_scope(kwargs.get("dtype")):
            init(self, *args, **kwargs)

    return wrapped


def uses_loss_scaling(optimizer):
    """Whether `optimizer` scales the loss (a `keras.optimizers.LossScaleOptimizer`)."""
    return isinstance(optimizer, keras.optimizers.LossScaleOptimizer)


def loss_scaled_like(reference, optimizer):
    """`optimizer` wrapped in its own `LossScaleOptimizer` if `reference` is one.

    Keras decides in `compile` whether the model's main optimizer scales the loss (with a
    "mixed_float16" policy, unless `auto_scale_loss=False`); a model's other optimizers
    follow that decision. Each gets its own dynamic scale: the VAE-GAN's discriminator
    gradients overflow at other scales than its decoder's.

    Args:
      reference: the model's main optimizer, after `compile`.
      optimizer: another optimizer of the model (not yet wrapped, or already wrapped).

    Returns:
      `optimizer`, or a new `keras.optimizers.LossScaleOptimizer` around it.
    """
    if not uses_loss_scaling(reference) or uses_loss_scaling(optimizer):
        return optimizer
    return keras.optimizers.LossScaleOptimizer(
        optimizer, initial_scale=reference.initial_scale,
        dynamic_growth_steps=reference.dynamic_growth_steps)


def copy_optimizer(optimizer):
    """A fresh optimizer of `optimizer`'s class and settings, with its own state (a
    loss-scaled one is copied with a fresh inner optimizer and its own scale)."""
    return optimizer.__class__.from_config(optimizer.get_config())


def check_jit_compile(jit_compile, strategy):
    """Refuses a `jit_compile` setting the zoo cannot train with, naming it.

    Every family's training step compiles with XLA on one device. Under a
    `tf.distribute` strategy with several replicas it does not run here: XLA's compiled
    step cannot reach the other replicas' variables on the logical CPU devices the tests
    use, a plain Keras model fails the same way, and Keras itself never picks XLA under a
    strategy. So `jit_compile=True` with several replicas is refused up front, rather
    than failing at the first step of `fit`.

    Args:
      jit_compile: the `compile` argument: True, False or "auto".
      strategy: the model's `tf.distribute.Strategy`.

    Raises:
      ValueError: `jit_compile` is something else, or True with several replicas.
    """
    if not (isinstance(jit_compile, bool) or jit_compile == "auto"):
        raise ValueError(f"jit_compile must be True, False or 'auto'. Received: jit_compile={jit_compile!r}")
    replicas = strategy.num_replicas_in_sync if strategy is not None else 1
    if jit_compile is True and replicas > 1:
        raise ValueError(
            f"jit_compile=True is not supported under a distribution strategy with {replicas} "
            "replicas: XLA's compiled step cannot reach the other replicas' variables. Use "
            "jit_compile='auto' (Keras turns XLA off under a strategy) or False. "
            f"Received: jit_compile={jit_compile!r}")
