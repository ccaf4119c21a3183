"""Training: the step every model's `fit` runs, and resumable runs around `fit`.

  - `step`: the train/test step of any zoo model, through its public training contract;
  - `guard`: the update guard that skips harmful updates, and its saved state;
  - `schedules`: KL warm-up, free bits and KL balancing;
  - `metrics`: `TermMeans`, the reported terms as one Keras metric;
  - `strategy`: what `tf.distribute` strategies need from the zoo;
  - `precision`: a model's own dtype policy, loss scaling, and the `jit_compile` check;
  - `run`: `train`, a resumable `fit` with checkpoints, logs, plots and a saved model.
"""

from zoo.training.guard import UpdateGuardState
from zoo.training.metrics import TermMeans
from zoo.training.run import (HISTORY_FILE, MODEL_FILE, SUMMARY_FILE, StopOnSkippedUpdates,
                              TrainingDiverged, TrainingPlots, read_history, save_model, train)
from zoo.training.step import TrainablePart

__all__ = ["HISTORY_FILE", "MODEL_FILE", "SUMMARY_FILE", "StopOnSkippedUpdates", "TermMeans",
           "TrainablePart", "TrainingDiverged", "TrainingPlots", "UpdateGuardState",
           "read_history", "save_model", "train"]
