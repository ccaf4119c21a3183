"""Evaluation: likelihoods, sample quality and speed of trained models.

  - `likelihood`: the importance-weighted estimator of log p(x) and `evaluate`, the
    figures of a model on a dataset (ELBO, NLL, bits/dim, KL, active units);
  - `frechet`: the Fréchet distance of samples to data in a classifier's features;
  - `speed`: training throughput and sampling latency.
"""

from zoo.evaluation.likelihood import (PRECISIONS, ImportanceWeightedEstimator, evaluate,
                                       kl_per_unit, require_kl_by_dimension, summarize)

__all__ = ["ImportanceWeightedEstimator", "PRECISIONS", "evaluate", "kl_per_unit",
           "require_kl_by_dimension", "summarize"]
