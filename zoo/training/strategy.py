"""Helpers for training zoo models under `tf.distribute` strategies.

Keras 3 (seen with 3.15) cannot `fit` any model under `MultiWorkerMirroredStrategy`:
its `reduce_per_replica(..., reduction="auto")` averages each per-replica log with
`strategy.reduce("MEAN", value, axis=0)`, and the logs are scalars, so the first step
fails with "Invalid reduction dimension 0 for input with 0 dimensions". `fit` and
`evaluate` of zoo models install `fix_multi_worker_logs` under such a strategy, so
multi-worker training works as the Keras guide describes. `tests/test_multiworker.py`
checks that plain Keras still fails (so the fix can be removed once Keras is fixed) and
that two zoo workers end with the same weights.
"""

import tensorflow as tf

_INSTALLED = False


def _multi_worker(strategy):
    from keras.src.backend.tensorflow import trainer

    return trainer._collective_all_reduce_multi_worker(strategy)


def fix_multi_worker_logs():
    """Makes Keras average scalar logs over the replicas of a multi-worker strategy with
    `axis=None` (they have no axis 0). Only the case that raises is changed: other
    values, reductions and strategies go to Keras' own function. Idempotent; does
    nothing if this Keras has no such function."""
    global _INSTALLED
    if _INSTALLED:
        return
    try:
        from keras.src.backend.tensorflow import trainer
        original = trainer.reduce_per_replica
        trainer._collective_all_reduce_multi_worker  # noqa: B018 (exists?)
    except (ImportError, AttributeError):
        return

    def reduce_per_replica(values, strategy, reduction):
        if reduction == "auto" and _multi_worker(strategy):
            def reduce(value):
                # With one replica per worker the value is a plain tensor, else a
                # PerReplica of them; either way a scalar has no axis 0.
                local = value.values[0] if isinstance(value, tf.distribute.DistributedValues) else value
                if getattr(local, "shape", None) is not None and local.shape.rank == 0:
                    return strategy.reduce("MEAN", value, axis=None)
                return original(value, strategy, reduction)

            return tf.nest.map_structure(reduce, values)
        return original(values, strategy, reduction)

    trainer.reduce_per_replica = reduce_per_replica
    _INSTALLED = True


def prepare_for(strategy):
    """Installs `fix_multi_worker_logs` if `strategy` spans several workers.

    Args:
      strategy: a `tf.distribute.Strategy`, or None (nothing to do).
    """
    if strategy is None:
        return
    try:
        if _multi_worker(strategy):
            fix_multi_worker_logs()
    except (ImportError, AttributeError):
        pass
