"""The update guard: a step whose update would harm the weights is skipped, not applied.

A step whose loss is not finite is never applied; it is skipped and counted. With
gradient clipping or a skip threshold, which need the gradient norm anyway, a step whose
gradient norm is not finite is skipped too. With `skip_threshold`, a step whose gradient
norm exceeds it is skipped too [1], unless `max_consecutive_skips` steps in a row were
already skipped: then the (clipped) update is applied, so training cannot stall. The
counters live in `UpdateGuardState`, saved with the weights.

With a loss-scaling optimizer (`keras.optimizers.LossScaleOptimizer`, mixed float16),
the guard works on the unscaled gradients: clipping, the threshold and the reported
norm mean what they mean in float32, and a non-finite loss is skipped and counted as
always. Gradients that overflow while the loss is finite are the scale's business: they
go to the optimizer, which skips that update and halves its scale, and they are not
counted as skipped steps (nothing is wrong with the batch or the weights).

References:
  [1] Child. Very deep VAEs generalize autoregressive models and can outperform them on
      images. ICLR 2021.
"""

import keras
import tensorflow as tf

from zoo import validation


@keras.saving.register_keras_serializable(package="vaezoo")
class UpdateGuardState(keras.layers.Layer):
    """Training state of the update guard, saved with the weights: steps skipped so far,
    and in a row. A layer of its own so its weights have stable paths.

    Attributes:
      skipped_steps: float32 scalar variable. Steps skipped since training started.
      consecutive_skips: float32 scalar variable. Steps skipped since the last update.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        for name in ("skipped_steps", "consecutive_skips"):
            setattr(self, name, self.add_weight(
                name=name, shape=(), initializer="zeros", trainable=False,
                aggregation="only_first_replica"))
        self.built = True

    def record_skip(self, counted=1.0):
        """Counts a skipped step (`counted` is 0.0 for a pause that is not a skip)."""
        self.skipped_steps.assign_add(counted)
        self.consecutive_skips.assign_add(counted)

    def record_update(self):
        """Ends a run of skips: an update was applied."""
        self.consecutive_skips.assign(0.0)

    def load_own_variables(self, store):
        """Loads the counters, or keeps them at zero if `store` has none (files saved
        before the guard existed)."""
        # Weights and checkpoints written before the guard existed have no entry for it;
        # they load with the counters at zero instead of refusing a months-long run.
        if len(store.keys()) == 0:
            return
        super().load_own_variables(store)


def apply_unless(apply, skip, gradients, on_skip):
    """Runs `apply(gradients)` unless `skip`, else `on_skip()`; `skip` is equal on all replicas.

    `apply` calls `optimizer.apply_gradients`, which synchronises replicas (`merge_call`)
    and so may not sit in a `tf.cond` in a replica context. Under a strategy that needs
    `merge_call`, the cond is taken in the cross-replica context and each branch runs
    back on every replica, the way Keras' LossScaleOptimizer skips non-finite steps.

    Args:
      apply: callable taking `gradients`; applies the update.
      skip: boolean scalar tensor.
      gradients: list of tensors, passed to `apply`.
      on_skip: callable taking no arguments, run instead of `apply`.
    """
    if tf.__internal__.distribute.strategy_supports_no_merge_call():
        tf.cond(skip, on_skip, lambda: apply(gradients))
        return

    def cross_replica(distribution, skip, gradients):
        flag = distribution.experimental_local_results(skip)[0]
        tf.cond(flag,
                lambda: distribution.extended.call_for_each_replica(on_skip),
                lambda: distribution.extended.call_for_each_replica(apply, args=(gradients,)))

    tf.distribute.get_replica_context().merge_call(cross_replica, args=(skip, gradients))


def guarded_update(settings, state, gradients, variables, optimizer, pause=None, loss=None):
    """Clips, then applies or skips one update (see the module docstring).

    Args:
      settings: the model, for its `gradient_clip_norm`, `skip_threshold`,
        `max_consecutive_skips` and `skip_nonfinite`.
      state: the model's `UpdateGuardState`.
      gradients: list of tensors, one per variable.
      variables: the variables.
      optimizer: the optimizer.
      pause: optional boolean scalar: do not update this step, without counting it as
        a skip (VAE-GAN's equilibrium gate).
      loss: optional scalar loss of the step, unscaled (what the model's objective
        returned, divided by the number of replicas). Without clipping or a skip threshold,
        the non-finite check looks at it instead of the gradient norm, and the norm
        is not computed. The loss is known before backprop starts; the `tf.cond`
        is lowered to a switch per input, so each variable's update starts as soon
        as its own gradient exists. A predicate on the global norm has to wait for
        every gradient, and backprop inside the branch was slower too: both cost a
        small MLP measurable training throughput.

    Returns:
      The gradient norm (per replica, rescaled to the replica's own mean loss), or
        None when the loss decides alone and nothing needs the norm.
    """
    clip, threshold = settings.gradient_clip_norm, settings.skip_threshold
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    # The gradients are of `scale` times the loss: a LossScaleOptimizer unscales them
    # itself when it applies them, so they stay scaled here and the norm is divided.
    scaled = isinstance(optimizer, keras.optimizers.LossScaleOptimizer)
    scale = optimizer.dynamic_scale if scaled else 1.0
    if loss is not None and not (clip or threshold):
        norm = None
        skip = tf.logical_not(tf.math.is_finite(loss))
    else:  # the norm is needed anyway (clipping, threshold) or there is no loss
        # Each replica's gradient is of loss / replicas: rescale to the gradient of
        # its own mean loss, comparable with a single-device norm.
        raw_norm = tf.linalg.global_norm(gradients)
        norm = raw_norm / scale * replicas
        if scaled and loss is not None:
            # An overflow with a finite loss goes to the optimizer, to lower its scale.
            skip = tf.logical_not(tf.math.is_finite(loss))
        else:
            skip = tf.logical_not(tf.math.is_finite(norm))
    if threshold:
        allowed = state.consecutive_skips < float(settings.max_consecutive_skips)
        skip = skip | ((norm > threshold) & tf.math.is_finite(norm) & allowed)
    if clip:
        gradients, _ = tf.clip_by_global_norm(gradients, clip / replicas * scale,
                                              use_norm=raw_norm)
    if not (settings.skip_nonfinite or threshold or pause is not None):
        optimizer.apply_gradients(zip(gradients, variables))  # unguarded: no cond
        return norm
    context = tf.distribute.get_replica_context()
    paused = tf.constant(False) if pause is None else pause
    if replicas > 1 and context is not None:  # skip everywhere if any replica must
        flags = context.all_reduce(tf.distribute.ReduceOp.SUM,
                                   tf.stack([tf.cast(skip, tf.float32), tf.cast(paused, tf.float32)]))
        skip, paused = flags[0] > 0, flags[1] > 0

    def on_skip():
        state.record_skip(tf.cast(skip, tf.float32))  # a pause alone is not a skip

    def apply(grads):
        optimizer.apply_gradients(zip(grads, variables))
        state.record_update()

    apply_unless(apply, skip | paused, gradients, on_skip)
    return norm


def check_settings(gradient_clip_norm=None, skip_threshold=None, max_consecutive_skips=10,
                   skip_nonfinite=True):
    """The guard's settings checked, as the model stores them, or a clear error.

    Args:
      gradient_clip_norm: float > 0 or None. Global-norm clipping.
      skip_threshold: float > 0 or None. Gradient norm above which a step is skipped.
      max_consecutive_skips: int >= 0. Skips in a row after which an update is applied
        anyway.
      skip_nonfinite: bool. Skip steps with a non-finite loss or gradient norm.

    Returns:
      A tuple `(gradient_clip_norm, skip_threshold, max_consecutive_skips,
        skip_nonfinite)`: floats or None, an int and a bool.

    Raises:
      ValueError: a number out of range.
      TypeError: `skip_nonfinite` is not a bool.
    """
    if gradient_clip_norm is not None:
        gradient_clip_norm = validation.positive_float("gradient_clip_norm", gradient_clip_norm)
    if skip_threshold is not None:
        skip_threshold = validation.positive_float("skip_threshold", skip_threshold)
    max_consecutive_skips = validation.non_negative_int("max_consecutive_skips", max_consecutive_skips)
    if not isinstance(skip_nonfinite, bool):
        raise TypeError(f"skip_nonfinite must be a bool. Received: skip_nonfinite={skip_nonfinite!r}")
    return gradient_clip_norm, skip_threshold, max_consecutive_skips, skip_nonfinite
