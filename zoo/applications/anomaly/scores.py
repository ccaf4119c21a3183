"""Anomaly scores of a trained model, per example, higher = more anomalous (see the package
docstring for what each score measures)."""

import math

import numpy as np

from zoo import validation

SCORES = ("elbo", "iwae", "reconstruction", "elbo_complexity", "latent_knn", "feature_knn")
# The vectors a kNN score can compare (the `kind` of `embeddings`) -> the model method
# that gives them.
EMBEDDING_KINDS = {"latent": "embed", "feature": "features"}
# The scores that compare an example with a reference set -> the kind they compare.
REFERENCE_SCORES = {"latent_knn": "latent", "feature_knn": "feature"}
# The distances a kNN score can use between embeddings.
METRICS = ("euclidean", "seuclidean")
# "seuclidean" floors each dimension's standard deviation at this share of the mean one,
# so a dimension (nearly) constant over the reference set, a unit no normal example
# activates, say, cannot blow a query's distance up without bound.
_MIN_RELATIVE_SCALE = 0.01
PNG_CHANNELS = (1, 2, 3, 4)
# Entries per block of the query-reference distance matrix: 2e7 float64 = 160 MB at most.
_KNN_BLOCK_ENTRIES = 20_000_000


def input_complexity(x):
    """Size of each image of `x` as a PNG file, in nats (bytes x 8 ln 2), shape `[n]`.

    The images are quantized to 8 bits (values in [0, 1] times 255, rounded) and encoded
    losslessly at the strongest deflate setting. The PNG header is the same for every
    image of one shape, so it shifts all scores equally and does not change a ranking.

    Args:
      x: array `[n, height, width, channels]` with values in [0, 1] and 1-4 channels.

    References:
      Serrà, Álvarez, Gómez, Slizovskaia, Núñez, Luque. Input complexity and
      out-of-distribution detection with likelihood-based generative models. ICLR 2020.
    """
    import tensorflow as tf  # only this score needs it; the rest of the module is numpy

    x = np.asarray(x)
    if x.ndim != 4 or x.shape[-1] not in PNG_CHANNELS:
        raise ValueError("input complexity needs images [n, height, width, channels] with 1-4 "
                         f"channels. Received: x.shape={list(x.shape)}")
    if not np.all(np.isfinite(x)):
        raise ValueError("input complexity needs pixel values in [0, 1]. Received: "
                         f"{int(np.sum(~np.isfinite(x)))} NaN or infinite values")
    if x.min(initial=0.0) < 0.0 or x.max(initial=0.0) > 1.0:
        raise ValueError("input complexity needs pixel values in [0, 1]. Received: range "
                         f"[{x.min()}, {x.max()}]")
    pixels = np.round(x * 255.0).astype(np.uint8)
    sizes = [len(tf.io.encode_png(image, compression=9).numpy()) for image in pixels]
    return np.asarray(sizes, dtype=np.float64) * 8.0 * math.log(2.0)


def _check_x(name, x):
    x = np.asarray(x)
    if x.ndim == 0 or len(x) == 0:
        raise ValueError(f"{name} must contain at least one example. Received: "
                         f"{name}.shape={list(x.shape)}")
    return x


def _check_scores(score):
    """`score` as a tuple of score names: one name of `SCORES`, or a list of distinct
    names to combine."""
    names = (score,) if isinstance(score, str) else score
    if not isinstance(names, (list, tuple)) or not names \
            or not all(isinstance(n, str) and n in SCORES for n in names):
        raise ValueError(f"score must be one of {list(SCORES)}, or a list of them to combine. "
                         f"Received: score={score!r}")
    if len(set(names)) != len(names):
        raise ValueError(f"score must list each score once. Received: score={score!r}")
    return tuple(names)


def _check_models(model):
    """`model` as a tuple of zoo models: one model, or a non-empty list of them."""
    from zoo.model import LatentVariableModel  # TensorFlow: only here

    models = tuple(model) if isinstance(model, (list, tuple)) else (model,)
    if not models:
        raise ValueError("model must be a zoo model, or a non-empty list of them. "
                         "Received: model=[]")
    for m in models:
        if not isinstance(m, LatentVariableModel):
            raise TypeError("model must be a zoo model (zoo.VAE, zoo.HVAE, ...), or a list of "
                            f"them. Received: {type(m).__name__} {m!r:.80}")
    return models


def _check_reference(score, reference, neighbours, metric="euclidean"):
    """The reference set, neighbour count and metric of `score` (a name, or a list of
    names), checked against each other."""
    metric = validation.one_of("metric", metric, METRICS)
    if not any(name in REFERENCE_SCORES for name in _check_scores(score)):
        if reference is not None:
            raise ValueError(f"reference is only used by the scores {list(REFERENCE_SCORES)}. "
                             f"Received: score={score!r} with a reference set")
        if metric != "euclidean":
            raise ValueError(f"metric is only used by the scores {list(REFERENCE_SCORES)}. "
                             f"Received: score={score!r} with metric={metric!r}")
        return None, None
    if reference is None:
        raise ValueError(f"score={score!r} compares each example with normal examples: pass "
                         "reference=<normal data>, e.g. the normal training examples. "
                         "Received: reference=None")
    reference = _check_x("reference", reference)
    neighbours = validation.positive_int("neighbours", neighbours)
    if neighbours > len(reference):
        raise ValueError(f"neighbours must be at most the number of reference examples "
                         f"({len(reference)}). Received: neighbours={neighbours}")
    return reference, neighbours


def embeddings(model, x, batch_size=500, kind="latent"):
    """Vectors a kNN score compares, as float64 `[n, dim]`: the posterior means
    `model.embed(x)` flattened (`kind="latent"`), or the encoder features
    `model.features(x)` (`kind="feature"`)."""
    kind = validation.one_of("kind", kind, EMBEDDING_KINDS)
    x = _check_x("x", x)
    batch_size = validation.positive_int("batch_size", batch_size)
    vectors = getattr(model, EMBEDDING_KINDS[kind])
    parts = [np.asarray(vectors(x[start:start + batch_size]), dtype=np.float64)
             for start in range(0, len(x), batch_size)]
    return np.concatenate([p.reshape(len(p), -1) for p in parts])


def reference_scale(reference):
    """Per-dimension scale of the "seuclidean" metric, `[d]`: the standard deviation of
    each column of `reference` `[m, d]`, floored at 1 % of their mean (1 if all are 0)."""
    std = np.std(np.asarray(reference, dtype=np.float64), axis=0)
    floor = _MIN_RELATIVE_SCALE * std.mean()
    return np.maximum(std, floor) if floor > 0 else np.ones_like(std)


def knn_distance(queries, reference, neighbours, scale=None):
    """Mean Euclidean distance of each row of `queries` `[n, d]` to its `neighbours`
    nearest rows of `reference` `[m, d]`, shape `[n]` (exact, by brute force in blocks).
    With `scale` `[d]`, both are divided by it first (see `reference_scale`)."""
    queries = np.asarray(queries, dtype=np.float64)
    reference = np.asarray(reference, dtype=np.float64)
    if scale is not None:
        queries, reference = queries / scale, reference / scale
    squared_reference = np.sum(reference**2, axis=1)
    block = max(1, _KNN_BLOCK_ENTRIES // len(reference))
    out = []
    for start in range(0, len(queries), block):
        q = queries[start:start + block]
        # |q - r|^2 = |q|^2 + |r|^2 - 2 q.r; rounding can make a zero distance slightly
        # negative, hence the floor.
        squared = np.maximum(np.sum(q**2, axis=1)[:, None] + squared_reference[None, :]
                             - 2.0 * q @ reference.T, 0.0)
        nearest = np.partition(squared, neighbours - 1, axis=1)[:, :neighbours]
        out.append(np.sqrt(nearest).mean(axis=1))
    return np.concatenate(out)


def anomaly_scores(model, x, score="elbo", num_samples=None, seed=0, batch_size=500,
                   reference=None, neighbours=2, metric="euclidean"):
    """Per-example anomaly scores of `x` as a numpy array `[n]`, higher = more anomalous.

    Args:
      model: a zoo model.
      x: array `[n, *input_shape]`.
      score: str. One of `SCORES` (see the module docstring). Defaults to "elbo".
      num_samples: int. Posterior samples: averaged for the ELBO (default 1), importance
        samples for "iwae" (default 100); unused for "reconstruction" and the kNN scores.
      seed: int. Seed of the posterior samples. Defaults to 0.
      batch_size: int. Examples per pass. Defaults to 500.
      reference: array `[m, *input_shape]` of normal examples, for the kNN scores
        ("latent_knn", "feature_knn") only.
      neighbours: int. Nearest reference examples averaged by the kNN scores. Defaults to 2.
      metric: str. Distance of the kNN scores: "euclidean", or "seuclidean" (each
        dimension divided by its standard deviation over `reference`). Defaults to
        "euclidean".
    """
    if not isinstance(score, str) or score not in SCORES:
        raise ValueError(f"score must be one of {list(SCORES)}. Received: score={score!r}"
                         + ("" if isinstance(score, str) else ". To combine scores, use "
                            "AnomalyDetector(model, score=[...]): it standardises them on "
                            "normal data"))
    batch_size = validation.positive_int("batch_size", batch_size)
    x = _check_x("x", x)
    reference, neighbours = _check_reference(score, reference, neighbours, metric)
    if score in REFERENCE_SCORES:
        kind = REFERENCE_SCORES[score]
        reference = embeddings(model, reference, batch_size, kind)
        return knn_distance(embeddings(model, x, batch_size, kind), reference, neighbours,
                            reference_scale(reference) if metric == "seuclidean" else None)
    return _per_batch_scores(model, x, score, num_samples, seed, batch_size)


def _per_batch_scores(model, x, score, num_samples, seed, batch_size):
    out = []
    for i, start in enumerate(range(0, len(x), batch_size)):
        part = x[start:start + batch_size]
        part_seed = seed + i
        if score in ("elbo", "elbo_complexity"):
            values = -np.asarray(model.elbo(part, num_samples=num_samples or 1, seed=part_seed))
            if score == "elbo_complexity":
                values = values - input_complexity(part)
        elif score == "iwae":
            values = -model.log_likelihood(part, num_samples=num_samples or 100, seed=part_seed)
        else:
            recon = np.asarray(model.reconstruct(part))
            values = np.mean(np.reshape((recon - part) ** 2, (len(part), -1)), axis=1)
        out.append(np.asarray(values, dtype=np.float64))
    return np.concatenate(out)
