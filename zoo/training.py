"""Training runs that survive interruption: checkpoints, logs and a final saved model.

`train` wraps Keras' own `fit` with the callbacks a long run needs:
  - `keras.callbacks.BackupAndRestore`: weights, optimizer state (so the step count
    that drives KL warm-up and learning-rate schedules) and the epoch, restored when
    the same command is run again after a crash;
  - `keras.callbacks.TensorBoard` scalars plus `SampleGrid` images of samples;
  - `keras.callbacks.CSVLogger` appending one row per epoch across restarts.
The final model is written atomically to `output_dir/model.keras`.
"""

import csv
import json
import os
import time

import keras
import tensorflow as tf

from zoo import io_utils, plotting

MODEL_FILE = "model.keras"
HISTORY_FILE = "history.csv"
SUMMARY_FILE = "training.json"


class SampleGrid(keras.callbacks.Callback):
    """Logs a grid of model samples (fixed noise) to TensorBoard at the end of each epoch.

    Args:
      log_dir: str. TensorBoard log directory.
      num_samples: int. Images in the grid. Defaults to 64.
      seed: int. Seed of the fixed noise, so epochs can be compared. Defaults to 0.
    """

    def __init__(self, log_dir, num_samples=64, seed=0):
        super().__init__()
        self.log_dir = log_dir
        self.num_samples = num_samples
        self.seed = seed
        self._writer = None

    def on_epoch_end(self, epoch, logs=None):
        if len(self.model.data_shape) != 3:
            return  # not images
        if self._writer is None:
            self._writer = tf.summary.create_file_writer(os.path.join(self.log_dir, "samples"))
        images = self.model.sample(self.num_samples, seed=self.seed).numpy()
        grid = plotting.image_grid(images)
        with self._writer.as_default():
            tf.summary.image("samples", grid[None], step=epoch)
        self._writer.flush()


class _TrainingClock(keras.callbacks.Callback):
    """Accumulates training wall time per epoch in `training.json`, across restarts."""

    def __init__(self, path):
        super().__init__()
        self.path = path
        self.seconds = 0.0
        if os.path.exists(path):
            with open(path) as f:
                self.seconds = float(json.load(f).get("train_seconds", 0.0))

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.time()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds += time.time() - self._start
        io_utils.write_json(self.path, {
            "epochs_completed": epoch + 1,
            "train_seconds": round(self.seconds, 1),
            "parameters": int(self.model.count_params()),
        })


def _completed_epochs(output_dir):
    path = os.path.join(output_dir, HISTORY_FILE)
    if not os.path.exists(path):
        return 0
    with open(path, newline="") as f:
        return len(list(csv.DictReader(f)))


def read_history(output_dir):
    """The per-epoch metrics a `train` run logged, as a dict of lists."""
    path = os.path.join(output_dir, HISTORY_FILE)
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    # CSVLogger writes "NA" for columns it has no value for (val_* without validation).
    history = {k: [float("nan") if r[k] == "NA" else float(r[k]) for r in rows]
               for k in (rows[0] if rows else {})}
    return {k: v for k, v in history.items() if not all(x != x for x in v)}


def save_model(model, path):
    """Saves `model` to a `.keras` file atomically."""
    with io_utils.atomic_path(path, suffix=".keras") as tmp:
        model.save(tmp)
    return path


def train(model, train_data, *, epochs, output_dir, validation_data=None, optimizer=None,
          steps_per_epoch=None, verbose="auto", callbacks=(), tensorboard=True):
    """Trains `model` with `fit`, resumably, and saves it to `output_dir/model.keras`.

    Running the same call again after an interruption resumes from the last completed
    epoch; after completion it loads and returns the finished model without training.

    Args:
      model: a `zoo.LatentVariableModel`.
      train_data: a `tf.data.Dataset` of batches (see `zoo.data.load`).
      epochs: int. Total epochs.
      output_dir: str. Where checkpoints, logs and the model go.
      validation_data: optional dataset evaluated after each epoch.
      optimizer: a Keras optimizer; defaults to Adam(1e-3). Ignored if `model` is
        already compiled.
      steps_per_epoch, verbose: passed to `fit`.
      callbacks: extra Keras callbacks.
      tensorboard: bool. Write TensorBoard logs. Defaults to True.

    Returns:
      The trained model (the same object, or the saved one if the run was complete).
    """
    os.makedirs(output_dir, exist_ok=True)
    model_path = os.path.join(output_dir, MODEL_FILE)
    done = _completed_epochs(output_dir)
    if os.path.exists(model_path) and done >= epochs:
        print(f"{model_path} is complete ({done} epochs); loading it instead of training.")
        return keras.saving.load_model(model_path)
    if not model.compiled:
        model.compile(optimizer=optimizer or keras.optimizers.Adam(1e-3))
    log_dir = os.path.join(output_dir, "logs")
    all_callbacks = [
        keras.callbacks.BackupAndRestore(os.path.join(output_dir, "backup"),
                                         double_checkpoint=True),
        keras.callbacks.CSVLogger(os.path.join(output_dir, HISTORY_FILE), append=True),
        _TrainingClock(os.path.join(output_dir, SUMMARY_FILE)),
    ]
    if tensorboard:
        all_callbacks += [keras.callbacks.TensorBoard(log_dir, write_graph=False),
                          SampleGrid(log_dir)]
    all_callbacks += list(callbacks)
    model.fit(train_data, epochs=epochs, validation_data=validation_data,
              steps_per_epoch=steps_per_epoch, callbacks=all_callbacks, verbose=verbose)
    save_model(model, model_path)
    return model
