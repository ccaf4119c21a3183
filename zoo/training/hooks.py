"""The Keras training hooks of every zoo model, mixed into `zoo.LatentVariableModel`.

Keras calls these methods on the model; each hands over to the training machinery
(`zoo.training.step`), which uses the model's public training contract only:
`objective`, `objective_terms`, `trainable_parts`, `step_seeds`, `update_guard`.
"""

import keras
import numpy as np
import tensorflow as tf

from zoo import validation
from zoo.training import precision, step, strategy


#: Training steps per call of the compiled step under `compile(steps_per_execution="auto")`.
AUTO_STEPS_PER_EXECUTION = 8


class KerasTraining:
    """`compile`, `fit`, `evaluate`, `train_step`, `test_step` and `metrics` of a zoo model.

    Every subclass's `__init__` builds its layers under the model's own `dtype=` policy
    when it is given one (`zoo.training.precision`): Keras layers do not pass their
    policy on to the layers they create.
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "__init__" in cls.__dict__:
            cls.__init__ = precision.building_under_own_policy(cls.__dict__["__init__"])

    @property
    def metrics(self):
        """The model's Keras metrics: the `TermMeans` of `objective_terms` once compiled,
        and the gradient-norm mean when clipping or a skip threshold computes it."""
        trackers = [self.term_tracker] if self.term_tracker is not None else []
        if self.gradient_clip_norm or self.skip_threshold:
            trackers.append(self.grad_norm_tracker)
        return trackers

    def _as_model_input(self, data):
        """Training data as the model takes it: a table's rows, 8-bit pixels in [0, 1]."""
        if isinstance(data, tf.data.Dataset):
            spec = data.element_spec
            x_spec = spec[0] if isinstance(spec, tuple) else spec
            if self.likelihood.takes_pixels and getattr(x_spec, "dtype", None) == tf.uint8:
                if isinstance(spec, tuple):
                    return data.map(lambda x, *rest: (validation.scale_pixels(x), *rest))
                return data.map(validation.scale_pixels)
            return data
        if data is None or isinstance(data, (tuple, list, dict)) or hasattr(data, "__next__"):
            return data
        data = self.likelihood.prepare("x", data)
        return validation.scale_pixels(data).numpy() if self.likelihood.takes_pixels and \
            getattr(data, "dtype", None) == np.uint8 else data

    def train_step(self, data):
        """One guarded training step (`zoo.training.step.train_step`); returns the logs."""
        return step.train_step(self, data)

    def test_step(self, data):
        """One evaluation step (`zoo.training.step.test_step`); returns the logs."""
        return step.test_step(self, data)

    def compile(self, *args, jit_compile="auto", steps_per_execution="auto", **kwargs):
        """Keras' `compile`, then the trackers of `objective_terms` and every optimizer's
        slots are made (see `zoo.training.step.build_optimizers`).

        `jit_compile=True` compiles the training step with XLA (every family compiles;
        measure before you use it, `benchmarks/speed/precision.py`); the default "auto"
        is Keras' own: XLA on a GPU, not on a CPU-only machine nor under a distribution
        strategy. Under a "mixed_float16" policy Keras wraps the optimizer in a
        `keras.optimizers.LossScaleOptimizer` (see `zoo.training.precision`).

        `steps_per_execution` is Keras' own setting, with a different default: "auto" runs
        `AUTO_STEPS_PER_EXECUTION` training steps per call of the compiled step. Keras
        does some Python work for every call (callbacks, logs); a zoo step of a small
        network is short enough for that work to cost a tenth of the throughput
        (`benchmarks/speed/fit_comparison.py`). The steps, their order, the updates and
        the epoch's figures are the same; only per-batch callbacks are called once per
        call, with the last batch's index (as Keras documents). Pass 1 for a call per
        batch. Under a distribution strategy "auto" is 1: Keras' multi-step loop fails
        to run under `MirroredStrategy` and `MultiWorkerMirroredStrategy` (seen with
        Keras 3.15 and TensorFlow 2.21), and an explicit N > 1 there is refused.

        Raises:
          ValueError: `jit_compile` is not a bool or "auto", or is True under a
            distribution strategy with several replicas; `steps_per_execution` is not a
            positive int or "auto".
        """
        precision.check_jit_compile(jit_compile, self.distribute_strategy)
        with self.distribute_strategy.scope():
            distributed = tf.distribute.has_strategy()  # False for the default strategy
        if steps_per_execution == "auto":
            steps_per_execution = 1 if distributed else AUTO_STEPS_PER_EXECUTION
        elif isinstance(steps_per_execution, bool) or not isinstance(steps_per_execution, int) \
                or steps_per_execution < 1:
            raise ValueError("steps_per_execution must be a positive int or 'auto'. Received: "
                             f"steps_per_execution={steps_per_execution!r}")
        elif steps_per_execution > 1 and distributed:
            raise ValueError(
                "steps_per_execution > 1 does not run under a distribution strategy (Keras' "
                "multi-step loop fails there); use 1 or 'auto'. Received: "
                f"steps_per_execution={steps_per_execution!r} under "
                f"{type(self.distribute_strategy).__name__}")
        super().compile(*args, jit_compile=jit_compile, steps_per_execution=steps_per_execution,
                        **kwargs)
        if self.term_tracker is None:
            with self.distribute_strategy.scope():
                self.term_tracker, self.grad_norm_tracker = step.make_trackers(self.objective_terms)
        step.build_optimizers(self.trainable_parts())

    def compile_from_config(self, config):
        """Recompiles a loaded model, its optimizers built, so their state loads next.

        Keras skips this step for models that override `compile`, as these do."""
        self.compile(**keras.saving.deserialize_keras_object(config))

    def fit(self, x=None, *args, **kwargs):
        """Keras' `fit`, with the data checked first; datasets are not reshuffled. 8-bit
        images (uint8 arrays or datasets) are scaled to [0, 1], as `zoo.data` does.

        Returns:
          A `keras.callbacks.History`: per epoch, the mean of each of `objective_terms`
            (nats for the loss, reconstruction and KL terms), `skipped_steps`, and
            `grad_norm` when it is computed; `val_` entries with `validation_data`.
        """
        x = self._as_model_input(x)
        if kwargs.get("validation_data") is not None:
            kwargs["validation_data"] = self._as_model_input(kwargs["validation_data"])
        validation.check_training_data("x", x, self.data_shape, self.check_input)
        if isinstance(x, tf.data.Dataset):
            kwargs.setdefault("shuffle", False)  # datasets shuffle themselves (zoo.data does)
        if kwargs.get("validation_data") is not None:
            validation.check_training_data("validation_data", kwargs["validation_data"],
                                           self.data_shape, self.check_input)
        strategy.prepare_for(getattr(self, "distribute_strategy", None))
        return super().fit(x, *args, **kwargs)

    def evaluate(self, x=None, *args, **kwargs):
        """Keras' `evaluate`, with the data checked first.

        Returns:
          As Keras: the mean of each reported term (the loss first), a list of floats,
            or a dict with `return_dict=True`.
        """
        x = self._as_model_input(x)
        validation.check_training_data("x", x, self.data_shape, self.check_input)
        strategy.prepare_for(getattr(self, "distribute_strategy", None))
        return super().evaluate(x, *args, **kwargs)
