"""Training runs that survive interruption: checkpoints, logs and a final saved model.

`train` wraps Keras' own `fit` with the callbacks a long run needs:
  - `keras.callbacks.BackupAndRestore`: weights, optimizer state (so the step count
    that drives KL warm-up and learning-rate schedules) and the epoch, restored when
    the same command is run again after a crash;
  - `keras.callbacks.TensorBoard` scalars plus `TrainingPlots` images (samples,
    reconstructions, interpolations, traversals, KL per latent unit, latent map);
  - `keras.callbacks.CSVLogger` appending one row per epoch across restarts.
The final model is written atomically to `output_dir/model.keras`.
"""

import csv
import json
import os
import shutil
import time

import keras
import numpy as np
import tensorflow as tf

from zoo import io_utils, plotting, validation
from zoo.applications import latent_space

MODEL_FILE = "model.keras"
HISTORY_FILE = "history.csv"
SUMMARY_FILE = "training.json"


class TrainingPlots(keras.callbacks.Callback):
    """Logs the zoo's plots to TensorBoard as a run trains, for fixed inputs and noise.

    Every `every` epochs (and after the last one), under `log_dir/plots`:
      - "samples": a grid of samples from fixed noise (images);
      - "reconstructions": `examples` above their reconstructions (images);
      - "interpolations": decoded slerp path from the first example to the second;
      - "traversals": the 8 most used latent units of the first example swept over
        -3..3 (images);
      - "kl_per_dimension": bar chart of the mean KL of each latent unit on `examples`,
        which shows posterior collapse as it happens (any data; not for a flow prior,
        whose KL does not split by dimension);
      - "latent_map": the examples' codes in 2-D coloured by `labels` (any data).
    Plots that need `examples` are skipped without them; non-image data gets the last two.
    Which plots apply is `plotting.applicable_plots`, as for `vaezoo plot`.

    Args:
      log_dir: str. TensorBoard log directory.
      examples: optional array `[n, *input_shape]` of held-out inputs (a few hundred
        suffice; the first 8 are reconstructed).
      labels: optional `[n]` labels of `examples`, to colour the latent map.
      num_samples: int. Samples in the grid. Defaults to 64.
      seed: int. Seed of the fixed noise, so epochs can be compared. Defaults to 0.
      every: int. Epochs between plots. Defaults to 1.
    """

    def __init__(self, log_dir, examples=None, labels=None, num_samples=64, seed=0, every=1):
        super().__init__()
        self.log_dir = log_dir
        self.examples = None if examples is None else np.asarray(examples, np.float32)
        self.labels = None if labels is None else np.asarray(labels)
        self.num_samples = num_samples
        self.seed = seed
        self.every = max(1, int(every))
        self._writer = None

    def plots(self):
        """The plots of the current model, for TensorBoard.

        Returns:
          dict `{tag: numpy float32 [height, width, channels]}`, pixels in [0, 1]; only
            the plots that apply to the model and the given examples.
        """
        kinds = plotting.applicable_plots(self.model)  # the same choice as `vaezoo plot`
        x = self.examples
        if x is None:  # everything but the sample grid shows examples
            kinds = tuple(kind for kind in kinds if kind == "samples")
        out = {}
        if "samples" in kinds:
            images, columns = plotting.samples_grid(self.model, self.num_samples, self.seed)
            out["samples"] = plotting.image_grid(images, num_cols=columns)
        if "reconstructions" in kinds:
            shown = x[:8]
            out["reconstructions"] = plotting.image_grid(
                plotting.reconstruction_rows(self.model, shown), num_cols=len(shown))
        if "interpolations" in kinds and len(x) >= 2:
            out["interpolations"] = plotting.image_grid(
                np.asarray(latent_space.interpolate(self.model, x[0], x[1], steps=8)), num_cols=8)
        if "traversals" in kinds:
            rows, _ = plotting.traversal_rows(self.model, x[0])
            out["traversals"] = plotting.image_grid(rows, num_cols=7)
        if "kl" in kinds:
            kl = plotting.kl_per_dimension(self.model, x, seed=self.seed)
            out["kl_per_dimension"] = plotting.figure_to_array(
                plotting.kl_figure(kl, self.model.active_unit_threshold))
        if "latent_map" in kinds:
            codes = np.asarray(self.model.embed(x))
            out["latent_map"] = plotting.figure_to_array(
                plotting.latent_map_figure(codes, self.labels))
        return out

    def _log(self, epoch):
        if self._writer is None:
            self._writer = tf.summary.create_file_writer(os.path.join(self.log_dir, "plots"))
        with self._writer.as_default():
            for tag, image in self.plots().items():
                tf.summary.image(tag, image[None], step=epoch)
        self._writer.flush()

    def on_epoch_end(self, epoch, logs=None):
        """Logs the plots every `every` epochs and after the last one."""
        last = self.params.get("epochs") if self.params else None
        if (epoch + 1) % self.every == 0 or (last is not None and epoch + 1 == last):
            self._log(epoch)


class TrainingDiverged(RuntimeError):
    """Raised by `train` when `StopOnSkippedUpdates` stopped the run."""


class StopOnSkippedUpdates(keras.callbacks.Callback):
    """Stops training when `limit` updates in a row were skipped by the update guard.

    The guard skips a step whose loss or gradients are not finite (and, with
    `skip_threshold`, a step with an outsized gradient norm; those are capped by the
    model's `max_consecutive_skips` already). One bad batch is noise; a long run of them
    means the weights or the data went bad, and training on would burn hours doing
    nothing. The skipped steps left the weights as they were, so the checkpoint written
    at the end of the epoch holds the last good state.

    Args:
      limit: int. Consecutive skipped updates that stop the run. Defaults to 100.

    Attributes:
      message: str or None. Why the run stopped, for `TrainingDiverged`; None while it
        has not.
    """

    def __init__(self, limit=100):
        super().__init__()
        self.limit = validation.positive_int("skip_limit", limit)
        self.message = None
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        """Remembers the epoch, for the message."""
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        """Stops training, and sets `message`, once `limit` updates in a row were skipped."""
        guard = getattr(self.model, "update_guard", None)
        # .numpy(): under a strategy the value is a MirroredVariable, which float() rejects.
        skips = 0 if guard is None else int(guard.consecutive_skips.numpy())
        if skips < self.limit:
            return
        self.model.stop_training = True
        # With several steps per execution the callback runs at the end of each call, so
        # more than `limit` skips may have run by now: report how many did.
        self.message = (
            f"Training stopped at epoch {self._epoch + 1}, batch {batch + 1} (optimizer step "
            f"{int(self.model.optimizer.iterations.numpy())}): the last {skips} updates were "
            f"skipped because their loss or gradients were not finite (NaN/inf). The "
            f"weights are those of the last good step. Check the data for NaN/inf and "
            f"consider a lower learning rate or gradient_clip_norm, then run again.")


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
    """Epochs finished, from `training.json` (written atomically at each epoch end).

    Not from the rows of `history.csv`: a kill between the checkpoint and the CSV row
    leaves a gap there, and counting rows would then never see the run as complete.
    """
    path = os.path.join(output_dir, SUMMARY_FILE)
    if os.path.exists(path):
        with open(path) as f:
            return int(json.load(f).get("epochs_completed", 0))
    path = os.path.join(output_dir, HISTORY_FILE)  # runs from before training.json
    if not os.path.exists(path):
        return 0
    with open(path, newline="") as f:
        return len(list(csv.DictReader(f)))


def read_history(output_dir):
    """The per-epoch metrics a `train` run logged.

    Args:
      output_dir: str. The run's `output_dir`.

    Returns:
      dict `{column: list of float}`, one value per epoch row of `history.csv` (NaN
        where an epoch has none); columns with no value at all are left out.
    """
    path = os.path.join(output_dir, HISTORY_FILE)
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    # CSVLogger writes "NA" for columns it has no value for (val_* without validation).
    history = {k: [float("nan") if r[k] == "NA" else float(r[k]) for r in rows]
               for k in (rows[0] if rows else {})}
    return {k: v for k, v in history.items() if not all(x != x for x in v)}


def save_model(model, path):
    """Saves `model` to a `.keras` file atomically.

    Returns:
      `path`, as given.
    """
    with io_utils.atomic_path(path, suffix=".keras") as tmp:
        model.save(tmp)
    return path


def train(model, train_data, *, epochs, output_dir, validation_data=None, optimizer=None,
          steps_per_epoch=None, verbose="auto", callbacks=(), tensorboard=True,
          plot_examples=None, plot_labels=None, plot_every=1, skip_limit=100,
          run_eagerly=False):
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
      plot_examples, plot_labels: optional held-out inputs (and labels) for the
        reconstruction, traversal, KL and latent-map plots; see `TrainingPlots`.
      plot_every: int. Epochs between TensorBoard plots; 0 for none (TensorBoard still
        gets the scalars). Defaults to 1.
      skip_limit: int. Consecutive skipped (non-finite) updates after which the run
        stops with its checkpoint kept and `TrainingDiverged` naming the step; see
        `StopOnSkippedUpdates`. Defaults to 100.
      run_eagerly: bool. Run the training step as plain Python, without `tf.function`
        (sets Keras' `model.run_eagerly`, which stays set on this model object):
        breakpoints and prints inside the step work, at several times the cost of a
        step. The saved `model.keras` loads traced. Defaults to False.

    Raises:
      TrainingDiverged: the run stopped on `skip_limit` skipped updates in a row.
        `model.keras` is not written; the checkpoint in `output_dir/backup` is.

    Returns:
      The trained model (the same object, or the saved one if the run was complete).
    """
    plot_every = validation.non_negative_int("plot_every", plot_every)
    run_eagerly = validation.boolean("run_eagerly", run_eagerly)
    os.makedirs(output_dir, exist_ok=True)
    model_path = os.path.join(output_dir, MODEL_FILE)
    done = _completed_epochs(output_dir)
    if os.path.exists(model_path) and done >= epochs:
        print(f"{model_path} is complete ({done} epochs); loading it instead of training.")
        return keras.saving.load_model(model_path)
    if not model.compiled:
        model.compile(optimizer=optimizer or keras.optimizers.Adam(1e-3))
    model.run_eagerly = run_eagerly or model.run_eagerly
    log_dir = os.path.join(output_dir, "logs")
    backup_dir = os.path.join(output_dir, "backup")
    all_callbacks = [
        # The checkpoint outlives fit: Keras would delete it in on_train_end, before the
        # model file is written, and a kill in between would lose the whole run. It is
        # removed below once model.keras is safely on disk.
        keras.callbacks.BackupAndRestore(backup_dir, double_checkpoint=True,
                                         delete_checkpoint=False),
        keras.callbacks.CSVLogger(os.path.join(output_dir, HISTORY_FILE), append=True),
        _TrainingClock(os.path.join(output_dir, SUMMARY_FILE)),
    ]
    if tensorboard:
        all_callbacks.append(keras.callbacks.TensorBoard(log_dir, write_graph=False))
        if plot_every:
            all_callbacks.append(TrainingPlots(log_dir, plot_examples, plot_labels, every=plot_every))
    stopper = StopOnSkippedUpdates(skip_limit)
    all_callbacks += [stopper] + list(callbacks)
    model.fit(train_data, epochs=epochs, validation_data=validation_data,
              steps_per_epoch=steps_per_epoch, callbacks=all_callbacks, verbose=verbose)
    if stopper.message:
        raise TrainingDiverged(stopper.message)
    save_model(model, model_path)
    shutil.rmtree(backup_dir, ignore_errors=True)
    return model
