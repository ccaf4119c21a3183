"""One training or evaluation step of any zoo model, through its public training contract.

The step knows a model only through what it declares (Pythae's trainer/model split):
  - `model.objective(x, y, sample_weight, seed=, step=, training=)`: a dict of scalar
    terms for one batch, holding the loss(es) to minimise;
  - `model.trainable_parts()`: which term each optimizer minimises over which variables
    (`TrainablePart`s; one for most models, three for the VAE-GAN);
  - `model.objective_terms`: the names of the terms `fit` reports;
  - `model.step_seeds`, `model.update_guard` and the guard settings (see `guard`).
Labels and sample weights of `(x, y)` / `(x, y, sample_weight)` batches reach the
objective; models decide what to do with them.
"""

from typing import NamedTuple

import keras
import numpy as np
import tensorflow as tf

from zoo.training import guard, precision
from zoo.training.metrics import TermMeans


class TrainablePart(NamedTuple):
    """One optimizer's share of a step.

    loss: name of the objective's term this part minimises.
    optimizer: the Keras optimizer that applies its updates.
    variables: the variables it trains.
    pause: optional name of a boolean term; when true, this part does not update in this
      step, and that is not counted as a skip (the VAE-GAN's equilibrium gate).
    """
    loss: str
    optimizer: object
    variables: list
    pause: str | None = None


class StepSeeds:
    """Stateless seeds of the training noise: a function of (seed, step, stream, replica).

    A run resumed from a checkpoint therefore draws what the uninterrupted run would have
    drawn. Called as `seeds(step, stream)`, it returns a shape-`[2]` int32 seed tensor
    for the `tf.random.stateless_*` ops.

    Args:
      seed: int or None. None takes fresh entropy once, when the model is built.
    """

    def __init__(self, seed=None):
        base = seed if seed is not None else int(np.random.default_rng().integers(2**31 - 1))
        self.base = tf.constant([base, 0x5EED], dtype=tf.int32)

    def __call__(self, step, stream):
        seed = tf.random.experimental.stateless_fold_in(self.base, stream)
        seed = tf.random.experimental.stateless_fold_in(seed, tf.cast(step, tf.int64))
        replica = tf.distribute.get_replica_context()
        if replica is not None:  # distinct noise on each replica of a distributed step
            seed = tf.random.experimental.stateless_fold_in(seed, replica.replica_id_in_sync_group)
        return seed


def make_trackers(terms):
    """The metrics a model reports: one for all terms, and the gradient norm apart, since
    evaluation steps have none.

    Args:
      terms: sequence of str. The model's `objective_terms`.

    Returns:
      A tuple (`TermMeans` named "terms", `keras.metrics.Mean` named "grad_norm").
    """
    return TermMeans(terms, name="terms"), keras.metrics.Mean(name="grad_norm")


def build_optimizers(parts):
    """Creates the optimizers' slots now, as `compile_from_config` does on loading.

    Otherwise, without a distribution strategy, Keras builds the optimizer inside the
    first trace of the train step; a `tf.function` that creates variables is traced
    twice, which slowed the first `fit` of every model. Every zoo model creates its
    weights in its constructor, so they all exist when it is compiled.

    Args:
      parts: the model's `TrainablePart`s.
    """
    scaling = {precision.uses_loss_scaling(p.optimizer) for p in parts if p.optimizer is not None}
    if len(scaling) > 1:
        # A part without its own scale would train on gradients `scale` times too large
        # (or, wrapped twice, too small): refuse rather than train it wrongly.
        raise ValueError(
            "Either every optimizer of a model scales its loss (keras.optimizers."
            "LossScaleOptimizer, as compile makes under mixed_float16) or none does. "
            "Received: optimizers " + ", ".join(
                f"{p.loss}={type(p.optimizer).__name__}" for p in parts if p.optimizer is not None))
    for part in parts:
        if part.optimizer is not None and not part.optimizer.built:
            part.optimizer.build(part.variables)


def _unpack(data):
    x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
    return tf.cast(x, tf.float32), y, sample_weight


def train_step(model, data):
    """Computes the objective, then each part's guarded update.

    Args:
      model: a compiled zoo model.
      data: a batch `x`, `(x, y)` or `(x, y, sample_weight)`.

    Returns:
      dict of scalar tensors, the logs `fit` shows (see `report`), with `grad_norm`
        (the largest over the parts) when it is computed.
    """
    x, y, sample_weight = _unpack(data)
    step = model.optimizer.iterations
    parts = model.trainable_parts()
    # Gradients are summed over replicas: scale so their sum is the mean gradient.
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    with tf.GradientTape(persistent=len(parts) > 1) as tape:
        terms = model.objective(x, y, sample_weight, seed=model.step_seeds(step, 0), step=step,
                                training=True)
        part_losses, scaled = [], []
        for i, part in enumerate(parts):
            loss = terms[part.loss]
            if i == 0 and model.losses:
                # Layers' own losses (regularizers) may be in the compute dtype.
                loss = loss + tf.cast(tf.add_n(model.losses), loss.dtype)
            part_losses.append(loss / replicas)
            # Times the part's own dynamic scale with a LossScaleOptimizer (mixed float16:
            # float16 gradients of an unscaled loss underflow), unchanged otherwise.
            scaled.append(part.optimizer.scale_loss(loss / replicas))
    norms = []
    for part, loss, scaled_loss in zip(parts, part_losses, scaled):
        gradients = tape.gradient(scaled_loss, part.variables)
        pause = None if part.pause is None else terms[part.pause]
        norm = guard.guarded_update(model, model.update_guard, gradients, part.variables,
                                    part.optimizer, pause=pause, loss=loss)
        if norm is not None:
            norms.append(norm)
    del tape
    if norms:
        terms["grad_norm"] = norms[0] if len(norms) == 1 else tf.reduce_max(tf.stack(norms))
    return report(model, terms, x)


def test_step(model, data):
    """The objective's terms on a batch, with the evaluation noise stream.

    Args:
      model: a zoo model.
      data: a batch `x`, `(x, y)` or `(x, y, sample_weight)`.

    Returns:
      dict of scalar tensors, the logs (see `report`).
    """
    x, y, sample_weight = _unpack(data)
    step = model.optimizer.iterations if model.optimizer is not None else 0
    terms = model.objective(x, y, sample_weight, seed=model.step_seeds(0, 1), step=step,
                            training=False)
    return report(model, terms, x)


def report(model, terms, x):
    """Updates the model's trackers with a batch's terms, weighted by its size.

    Args:
      model: a zoo model.
      terms: dict of scalar terms of the batch (see `model.objective`).
      x: the batch, for its size.

    Returns:
      dict of scalar tensors: each tracker's running mean over the epoch so far (one
        entry per term), and `skipped_steps`, the total count of skipped updates.
    """
    batch = tf.cast(tf.shape(x)[0], tf.float32)
    logs = {}
    for tracker in model.metrics:
        if isinstance(tracker, TermMeans):
            tracker.update_state(terms, sample_weight=batch)
        elif tracker.name in terms:
            tracker.update_state(terms[tracker.name], sample_weight=batch)
        result = tracker.result()
        logs.update(result if isinstance(result, dict) else {tracker.name: result})
    logs["skipped_steps"] = tf.convert_to_tensor(model.update_guard.skipped_steps)
    return logs
