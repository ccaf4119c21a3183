"""Anomaly scores of a trained model, per example, higher = more anomalous (see the package
docstring for what each score measures and which to use when)."""

import dataclasses
import hashlib
import io
import math
import weakref

import numpy as np

from zoo import validation

SCORES = ("sample_knn", "elbo", "iwae", "reconstruction", "elbo_complexity", "typicality",
          "likelihood_ratio", "level_ratio", "latent_knn", "feature_knn")
# What `AnomalyDetector()` and `model.anomaly_score` use when no score is named: it needs no
# data besides the model and does not fall into the likelihood trap (see the package docs).
DEFAULT_SCORE = "sample_knn"
# The kNN scores -> the kind of vectors they compare (the `kind` of `embeddings`).
KNN_SCORES = {"sample_knn": "feature", "latent_knn": "latent", "feature_knn": "feature"}
# The vectors a kNN score can compare -> the model method that gives them.
EMBEDDING_KINDS = {"latent": "embed", "feature": "features"}
# The scores that compare an example with a reference set of normal data.
REFERENCE_SCORES = ("latent_knn", "feature_knn", "typicality")
# The distances a kNN score can use between embeddings.
METRICS = ("euclidean", "seuclidean")
# Lossless image codecs `input_complexity` can measure a code length with.
COMPRESSORS = ("png", "webp")
# "seuclidean" floors each dimension's standard deviation at this share of the mean one,
# so a dimension (nearly) constant over the reference set, a unit no normal example
# activates, say, cannot blow a query's distance up without bound.
_MIN_RELATIVE_SCALE = 0.01
PNG_CHANNELS = (1, 2, 3, 4)
# Entries per block of the query-reference distance matrix: 2e7 float64 = 160 MB at most.
_KNN_BLOCK_ENTRIES = 20_000_000
# "sample_knn": draws of the model its reference holds, and neighbours averaged by default.
SAMPLE_REFERENCE_SIZE = 5000
DEFAULT_NEIGHBOURS = {"sample_knn": 5, "latent_knn": 2, "feature_knn": 2}


def input_complexity(x, compressor="png"):
    """Size of each image of `x` once losslessly compressed, in nats (bytes x 8 ln 2), `[n]`.

    The images are quantized to 8 bits (values in [0, 1] times 255, rounded) and encoded
    at the codec's strongest lossless setting: PNG (deflate, what Serrà et al. call a
    weak compressor) or WebP lossless (spatial prediction plus entropy coding, typically
    a smaller file; needs Pillow built with WebP). The file header is the same for every
    image of one shape, so it shifts all scores equally and does not change a ranking.

    Args:
      x: array `[n, height, width, channels]` with values in [0, 1] and 1-4 channels.
      compressor: str, one of `COMPRESSORS`. Defaults to "png".

    References:
      Serrà, Álvarez, Gómez, Slizovskaia, Núñez, Luque. Input complexity and
      out-of-distribution detection with likelihood-based generative models. ICLR 2020.
    """
    compressor = validation.one_of("compressor", compressor, COMPRESSORS)
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
    if compressor == "png":
        import tensorflow as tf  # only this codec needs it; the rest of the module is numpy

        sizes = [len(tf.io.encode_png(image, compression=9).numpy()) for image in pixels]
    else:
        sizes = [len(_webp_lossless(image)) for image in pixels]
    return np.asarray(sizes, dtype=np.float64) * 8.0 * math.log(2.0)


def _webp_lossless(image):
    from PIL import Image, features

    if not features.check("webp"):
        raise ValueError("compressor='webp' needs Pillow built with WebP support, which this "
                         "Pillow lacks. Received: compressor='webp'")
    mode = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[image.shape[-1]]
    buffer = io.BytesIO()
    # method=6 with quality=100 is WebP's slowest, smallest lossless setting.
    Image.fromarray(image[..., 0] if mode == "L" else image, mode).save(
        buffer, "WEBP", lossless=True, quality=100, method=6)
    return buffer.getvalue()


def _check_x(name, x, model=None):
    """`x` as a numpy array of examples; a table (DataFrame) as `model`'s encoded rows."""
    from zoo import tables

    if model is not None and tables.is_table(x):
        x = model.likelihood.prepare(name, x)
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


def _check_models(model, name="model"):
    """`model` as a tuple of zoo models: one model, or a non-empty list of them."""
    from zoo.model import LatentVariableModel  # TensorFlow: only here

    models = tuple(model) if isinstance(model, (list, tuple)) else (model,)
    if not models:
        raise ValueError(f"{name} must be a zoo model, or a non-empty list of them. "
                         f"Received: {name}=[]")
    for m in models:
        if not isinstance(m, LatentVariableModel):
            raise TypeError(f"{name} must be a zoo model (zoo.VAE, zoo.HVAE, ...), or a list of "
                            f"them. Received: {type(m).__name__} {m!r:.80}")
    return models


@dataclasses.dataclass(frozen=True)
class ScoreOptions:
    """The settings of the scores, checked against the scores that use them (see
    `anomaly_scores` for each)."""
    num_samples: int = None
    seed: int = 0
    batch_size: int = 500
    reference: np.ndarray = None
    neighbours: int = None
    metric: str = "euclidean"
    compressor: str = "png"
    background: tuple = None
    levels: int = 1

    def neighbours_for(self, name):
        return self.neighbours if self.neighbours is not None else DEFAULT_NEIGHBOURS[name]


# option -> (the scores that use it, its default); an option set away from its default
# for scores that ignore it is an error, not a silent no-op.
_OPTION_USERS = {
    "reference": (REFERENCE_SCORES, None),
    "neighbours": (tuple(KNN_SCORES), None),
    "metric": (tuple(KNN_SCORES), "euclidean"),
    "compressor": (("elbo_complexity",), "png"),
    "background": (("likelihood_ratio",), None),
    "levels": (("level_ratio",), 1),
}


def check_options(score, models, num_samples=None, seed=0, batch_size=500, reference=None,
                  neighbours=None, metric="euclidean", compressor="png", background=None,
                  levels=1):
    """The options of `score` (a name, or a list of names) for `models` as `ScoreOptions`,
    or a `ValueError`/`TypeError` naming the argument at fault."""
    names = _check_scores(score)
    given = dict(reference=reference, neighbours=neighbours, metric=metric,
                 compressor=compressor, background=background, levels=levels)
    for option, (users, default) in _OPTION_USERS.items():
        value = given[option]
        unused = value is not None if default is None else value != default
        if unused and not set(names) & set(users):
            shown = "a reference set" if option == "reference" else (
                "a background model" if option == "background" else f"{option}={value!r}")
            raise ValueError(f"{option} is only used by the scores {list(users)}. "
                             f"Received: score={score!r} with {shown}")
    if num_samples is not None:
        num_samples = validation.positive_int("num_samples", num_samples)
    batch_size = validation.positive_int("batch_size", batch_size)
    validation.seed_tensor(seed)  # the type check
    metric = validation.one_of("metric", metric, METRICS)
    compressor = validation.one_of("compressor", compressor, COMPRESSORS)
    levels = validation.non_negative_int("levels", levels)
    if set(names) & set(REFERENCE_SCORES):
        if reference is None:
            raise ValueError(f"score={score!r} compares each example with normal examples: "
                             "pass reference=<normal data>, e.g. the normal training "
                             "examples. Received: reference=None")
        reference = _check_x("reference", reference, models[0])
    if neighbours is not None:
        neighbours = validation.positive_int("neighbours", neighbours)
        sizes = ([len(reference)] if set(names) & {"latent_knn", "feature_knn"} else []) \
            + ([SAMPLE_REFERENCE_SIZE] if "sample_knn" in names else [])
        if neighbours > min(sizes):
            raise ValueError(f"neighbours must be at most the number of reference examples "
                             f"({min(sizes)}). Received: neighbours={neighbours}")
    if "likelihood_ratio" in names:
        if background is None:
            raise ValueError("score='likelihood_ratio' compares the model with a background "
                             "model of perturbed data: pass background=<model>, e.g. from "
                             "zoo.applications.anomaly.train_background(model, x_train). "
                             "Received: background=None")
        background = _check_models(background, "background")
        if len(background) not in (1, len(models)):
            raise ValueError(f"background must be one model, or one per model ({len(models)}). "
                             f"Received: {len(background)} background models")
        for b in background:
            if tuple(b.data_shape) != tuple(models[0].data_shape):
                raise ValueError(f"background must model the same data as the model, shape "
                                 f"{list(models[0].data_shape)}. Received: a background of "
                                 f"shape {list(b.data_shape)}")
    if "level_ratio" in names:
        for m in models:
            if not hasattr(m, "level_elbo"):
                raise ValueError(f"score='level_ratio' compares the levels of a hierarchical "
                                 f"model (zoo.HVAE). Received: a {type(m).__name__}")
    return ScoreOptions(num_samples, seed, batch_size, reference, neighbours, metric,
                        compressor, background, levels)


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


def model_samples(model, num_samples=SAMPLE_REFERENCE_SIZE, seed=0, batch_size=500):
    """Typical examples of the model itself, `[num_samples, *input_shape]` numpy: the
    decoder's point estimate (the mean image; the most probable class of a category
    column) at `num_samples` prior draws. What "sample_knn" compares with."""
    import tensorflow as tf

    num_samples = validation.positive_int("num_samples", num_samples)
    likelihood, parts = model.likelihood, []
    for i, start in enumerate(range(0, num_samples, batch_size)):
        n = min(batch_size, num_samples - start)
        eps = tf.random.stateless_normal([n, model.noise_dim], seed=[seed, i])
        # A conditional model's samples: classes at the frequencies seen in training.
        y = model.label_codes(None, n, draw=True, seed=[seed, i])
        p_x = model.decoder_distribution(model.latent_from_noise(eps, y), y)
        parts.append(np.asarray(likelihood.point_estimate(likelihood.point_statistics(p_x))))
    return np.concatenate(parts)


def _weights_fingerprint(model):
    digest = hashlib.sha1()
    for w in model.weights:
        digest.update(np.ascontiguousarray(w.numpy()).tobytes())
    return digest.hexdigest()


# model -> (fingerprint of its weights, features of its own samples): "sample_knn" draws
# its reference once per model and weights; fine-tuning changes the fingerprint.
_SAMPLE_REFERENCES = weakref.WeakKeyDictionary()


def sample_reference(model, batch_size=500):
    """The encoder features of `SAMPLE_REFERENCE_SIZE` of the model's own samples
    (`model_samples`, seed 0), float64 `[m, dim]`; cached per model and weights."""
    fingerprint = _weights_fingerprint(model)
    cached = _SAMPLE_REFERENCES.get(model)
    if cached is None or cached[0] != fingerprint:
        samples = model_samples(model, SAMPLE_REFERENCE_SIZE, seed=0, batch_size=batch_size)
        cached = (fingerprint, embeddings(model, samples, batch_size, kind="feature"))
        _SAMPLE_REFERENCES[model] = cached
    return cached[1]


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


def prepare(model, name, options):
    """What score `name` of `model` computes once, before any example: the reference
    embeddings (and their scale) of a kNN score, the mean negative ELBO of the reference
    set for "typicality"; None for the other scores."""
    if name == "sample_knn":
        reference = sample_reference(model, options.batch_size)
    elif name in KNN_SCORES:
        reference = embeddings(model, options.reference, options.batch_size, KNN_SCORES[name])
    elif name == "typicality":
        return float(np.mean(_per_batch(model, options.reference, "elbo", options)))
    else:
        return None
    return reference, reference_scale(reference) if options.metric == "seuclidean" else None


def score_with(model, x, name, options, prepared=None, model_index=0):
    """Score `name` of `x` `[n, ...]` with `model`, given what `prepare` computed."""
    if name in KNN_SCORES:
        reference, scale = prepared
        return knn_distance(embeddings(model, x, options.batch_size, KNN_SCORES[name]),
                            reference, options.neighbours_for(name), scale)
    if name == "typicality":
        return np.abs(_per_batch(model, x, "elbo", options) - prepared)
    if name == "likelihood_ratio":
        backgrounds = options.background
        background = backgrounds[model_index if len(backgrounds) > 1 else 0]
        return _per_batch(model, x, "elbo", options) - _per_batch(background, x, "elbo", options)
    return _per_batch(model, x, name, options)


# Scores that read only x (the encoder's label-free features): a conditional model's
# need no labels. The others, per example, score x given its label.
LABEL_FREE_SCORES = ("sample_knn", "feature_knn")
PER_EXAMPLE_SCORES = ("elbo", "elbo_complexity", "level_ratio", "iwae", "reconstruction")


def anomaly_scores(model, x, score=DEFAULT_SCORE, num_samples=None, seed=0, batch_size=500,
                   reference=None, neighbours=None, metric="euclidean", compressor="png",
                   background=None, levels=1, labels=None):
    """Per-example anomaly scores of `x` as a numpy array `[n]`, higher = more anomalous.

    Args:
      model: a zoo model.
      x: array `[n, *input_shape]`.
      score: str. One of `SCORES` (see the package docstring). Defaults to "sample_knn".
      num_samples: int. Posterior samples: averaged for the ELBO-based scores (default 1),
        importance samples for "iwae" (default 100); unused by the kNN scores.
      seed: int. Seed of the posterior samples. Defaults to 0.
      batch_size: int. Examples per pass. Defaults to 500.
      reference: array `[m, *input_shape]` of normal examples, for "latent_knn",
        "feature_knn" and "typicality" only.
      neighbours: int. Nearest reference examples averaged by the kNN scores. Defaults to
        5 for "sample_knn", 2 for the others.
      metric: str. Distance of the kNN scores: "euclidean", or "seuclidean" (each
        dimension divided by its standard deviation over the reference). Defaults to
        "euclidean".
      compressor: str. Codec of "elbo_complexity": "png" or "webp". Defaults to "png".
      background: a zoo model of perturbed data (`train_background`), for
        "likelihood_ratio" only.
      levels: int. Lowest latent groups drawn from the prior by "level_ratio" (hierarchical
        models only). Defaults to 1.
      labels: a conditional model's class labels of `x`, for the scores of x given its
        label ("elbo", "elbo_complexity", "level_ratio", "iwae", "reconstruction"): how
        unusual x is *as an example of its class*. "sample_knn" and "feature_knn" read
        the label-free encoder features and take none; the other scores are not
        available for conditional models.
    """
    if not isinstance(score, str) or score not in SCORES:
        raise ValueError(f"score must be one of {list(SCORES)}. Received: score={score!r}"
                         + ("" if isinstance(score, str) else ". To combine scores, use "
                            "AnomalyDetector(model, score=[...]): it standardises them on "
                            "normal data"))
    models = _check_models(model)
    x = _check_x("x", x, models[0])
    options = check_options(score, models, num_samples, seed, batch_size, reference,
                            neighbours, metric, compressor, background, levels)
    if models[0].num_classes or labels is not None:
        if score in PER_EXAMPLE_SCORES:
            ids = models[0].label_ids(labels, len(x))  # checked (refused if unconditional)
            return _per_batch(models[0], x, score, options, labels=ids)
        if score not in LABEL_FREE_SCORES or labels is not None:
            raise ValueError(
                f"score={score!r} " + ("takes no labels" if score in LABEL_FREE_SCORES else
                                       "is not available for conditional models") +
                f": give labels with one of {list(PER_EXAMPLE_SCORES)}, none with "
                f"{list(LABEL_FREE_SCORES)}. Received: labels="
                f"{'given' if labels is not None else None}")
    return score_with(models[0], x, score, options, prepare(models[0], score, options))


def _per_batch(model, x, score, options, labels=None):
    out = []
    num_samples, batch_size = options.num_samples, options.batch_size
    for i, start in enumerate(range(0, len(x), batch_size)):
        part = x[start:start + batch_size]
        given = {} if labels is None else {"labels": labels[start:start + batch_size]}
        part_seed = options.seed + i
        if score in ("elbo", "elbo_complexity"):
            values = -np.asarray(model.elbo(part, num_samples=num_samples or 1, seed=part_seed,
                                            **given))
            if score == "elbo_complexity":
                values = values - input_complexity(part, options.compressor)
        elif score == "level_ratio":
            # Both bounds by the same estimator and seed: the upper groups' draws are
            # shared, so their noise cancels in the difference.
            bound = lambda levels: np.asarray(model.level_elbo(  # noqa: E731
                part, levels, num_samples=num_samples or 1, seed=part_seed, **given))
            values = bound(0) - bound(options.levels)
        elif score == "iwae":
            values = -model.log_likelihood(part, num_samples=num_samples or 100, seed=part_seed,
                                           **given)
        else:
            recon = np.asarray(model.reconstruct(part, **given))
            values = np.mean(np.reshape((recon - part) ** 2, (len(part), -1)), axis=1)
        out.append(np.asarray(values, dtype=np.float64))
    return np.concatenate(out)
