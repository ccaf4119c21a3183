"""Speed measurements a user can run on their own hardware (`vaezoo bench`).

Training throughput is taken from the median step time of short chunks of `fit`, not
from whole-epoch wall time: on shared or virtual machines a stall of a second or more
now and then would otherwise decide the figure. Sampling latency is the p50 / p95 of
repeated `sample_from_noise` calls after warm-up.
"""

import statistics
import time

import keras
import numpy as np

from zoo import validation


class StepTimer(keras.callbacks.Callback):
    """Records the wall time of every training step (batch begin to batch end).

    With `steps_per_execution` N (the zoo's default is
    `zoo.training.hooks.AUTO_STEPS_PER_EXECUTION`), Keras calls the callbacks once per N
    steps, with the first and the last batch's index; each of those N steps is recorded
    as 1/N of the call's time.

    Attributes:
      durations: list of float. Seconds per step, in order.
    """

    def __init__(self):
        super().__init__()
        self.durations = []
        self._start = None
        self._first = None

    def on_train_batch_begin(self, batch, logs=None):
        """Starts the clock of the call that begins with step `batch`."""
        self._first = batch
        self._start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        """Appends the wall time of each step of the call, in seconds, to `durations`."""
        # Keras reports the last call of an epoch as a full one (first + N - 1) even when
        # fewer steps were left: only the steps that ran share its time.
        total = (self.params or {}).get("steps")
        if total:
            batch = min(batch, total - 1)
        steps = max(1, batch - self._first + 1)
        self.durations.extend([(time.perf_counter() - self._start) / steps] * steps)


def training_throughput(model, dataset, batch_size, steps=100, rounds=3, warmup_steps=None):
    """Images per second of `model.fit` on `dataset` (a repeated, batched tf.data).

    Compiles nothing: the model must be compiled. Runs `warmup_steps` (default `steps`)
    untimed, then `rounds` chunks of `steps`; each chunk's throughput is
    `batch_size / median step time`.

    Args:
      model: a compiled zoo model.
      dataset: a repeated, batched `tf.data.Dataset` (it must not run out).
      batch_size: int. Examples per batch of `dataset`, to turn steps into images.
      steps: int. Timed steps per round. Defaults to 100.
      rounds: int. Timed rounds. Defaults to 3.
      warmup_steps: int or None. Untimed steps first (tracing). Defaults to `steps`.

    Returns:
      dict. `images_per_second` (float, the median over rounds), `per_round` (list of
        float, images per second), `steps_per_round` and `batch_size`.
    """
    steps = validation.positive_int("steps", steps)
    rounds = validation.positive_int("rounds", rounds)
    model.fit(dataset, epochs=1, steps_per_epoch=warmup_steps or steps, verbose=0)  # trace
    per_round = []
    for _ in range(rounds):
        timer = StepTimer()
        model.fit(dataset, epochs=1, steps_per_epoch=steps, verbose=0, callbacks=[timer])
        per_round.append(batch_size / statistics.median(timer.durations))
    return {"images_per_second": statistics.median(per_round), "per_round": per_round,
            "steps_per_round": steps, "batch_size": batch_size}


def time_calls(fn, repeats, warmup=5):
    """Wall times of `repeats` calls of `fn()` after `warmup` untimed ones.

    Args:
      fn: a callable taking no arguments; its result is ignored.
      repeats: int. Timed calls.
      warmup: int. Untimed calls first. Defaults to 5.

    Returns:
      list of `repeats` floats, seconds.
    """
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def sampling_latency(model, batch_sizes=(1, 64), repeats=100, seed=0):
    """p50 / p95 latency of `model.sample_from_noise` per batch size (Keras, eager
    graph function), after 5 warm-up calls.

    Args:
      model: a zoo model.
      batch_sizes: iterable of int. Noise vectors per call. Defaults to (1, 64).
      repeats: int. Timed calls per batch size. Defaults to 100.
      seed: int. Seed of the noise. Defaults to 0.

    Returns:
      dict `{"b<batch>": {"p50_ms": float, "p95_ms": float}}`, milliseconds per call.
    """
    repeats = validation.positive_int("repeats", repeats)
    rng = np.random.default_rng(seed)
    figures = {}
    for batch in batch_sizes:
        noise = rng.standard_normal((batch, model.noise_dim)).astype(np.float32)
        times = time_calls(lambda: np.asarray(model.sample_from_noise(noise)), repeats)
        figures[f"b{batch}"] = {"p50_ms": 1e3 * float(np.percentile(times, 50)),
                                "p95_ms": 1e3 * float(np.percentile(times, 95))}
    return figures
