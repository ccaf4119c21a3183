"""Likelihood figures of a trained model: the importance-weighted estimator of log p(x), and
the dataset-level evaluation (ELBO, NLL, bits/dim, KL, active units) built on it."""

import hashlib
import json
import math
import os
import sys
import time
import warnings

import numpy as np
import tensorflow as tf

from zoo import io_utils, validation

# Burda et al. (2016) call a latent unit active if Cov_x(E_q[u | x]) > 0.01.
ACTIVE_UNIT_COVARIANCE = 0.01
# Rows (examples x samples) the decoder sees per pass when estimating log p(x); bounds
# memory for k = 5000 while keeping passes large enough to be efficient.
DEFAULT_MAX_ROWS_PER_PASS = 8192


# Precisions the estimator can run the model's networks in. Distributions, log-densities
# and the log-sum-exp stay float32 in both.
PRECISIONS = ("float32", "bfloat16")


class ImportanceWeightedEstimator:
    """The importance-weighted bound on log p(x) of one model, in bounded passes.

    Math:
      log p(x) >= log (1/k) sum_i w_i, w_i = p(x, z_i) / q(z_i | x), z_i ~ q(z | x) [1]
      over `model.sample_log_weights`. The examples and their k samples go through the
      model in passes of at most `max_rows_per_pass` decoder rows; each pass has its own
      seed, folded from the call's seed and the pass's position, and its log-weights are
      folded into a running log-sum-exp, so memory stays flat in k.

    Cost: almost all of it is the decoder, once per row (example x sample), and a
    convolutional decoder already runs near the speed of a large matrix product, so the
    lever is the arithmetic: `precision="bfloat16"` runs the networks in bfloat16 (the
    parameters of every distribution, the log-densities and the log-sum-exp stay
    float32). It is several times faster where the hardware has bfloat16 arithmetic
    (AVX512-BF16 or AMX CPUs, recent GPUs, TPUs) and moves the mean log p(x) far less
    than the Monte Carlo error; `benchmarks/speed/evaluation.py` measures both.

    Args:
      model: a zoo model. Only its public `sample_log_weights` is used, compiled once.
      precision: str, one of `PRECISIONS`. Defaults to "float32".
      jit_compile: bool. Compile each pass with XLA. Defaults to False (on a CPU, XLA's
        convolutions are slower than TensorFlow's oneDNN ones for these networks).

    References:
      [1] Burda, Grosse, Salakhutdinov. Importance weighted autoencoders. ICLR 2016.
    """

    def __init__(self, model, precision="float32", jit_compile=False):
        self.model = model
        self.precision = validation.one_of("precision", precision, PRECISIONS)
        if not isinstance(jit_compile, bool):
            raise TypeError(f"jit_compile must be True or False. Received: jit_compile={jit_compile!r}")
        self.jit_compile = jit_compile
        self._twin = None if self.precision == "float32" else _low_precision_twin(model, precision)
        network = self._twin or model
        self._log_weights = tf.function(network.sample_log_weights, reduce_retracing=True,
                                        jit_compile=jit_compile)

    def __call__(self, x, num_samples=1000, seed=None, max_rows_per_pass=DEFAULT_MAX_ROWS_PER_PASS,
                 y=None):
        """Per-example estimate of log p(x).

        Args:
          x: float32 tensor `[batch, *input_shape]`, already checked (`model.check_input`).
          num_samples: int. Importance samples k per example. Defaults to 1000.
          seed: int, a shape-`[2]` seed tensor, or None for a random one.
          max_rows_per_pass: int. Decoder rows (examples x samples) per pass, the memory
            bound. Defaults to `DEFAULT_MAX_ROWS_PER_PASS`.
          y: None, or a conditional model's one-hot labels `[batch, num_classes]`
            (`model.label_codes`): the estimate is then of log p(x | y).

        Returns:
          float32 tensor `[batch]`, log p(x) in nats.
        """
        num_samples = validation.positive_int("num_samples", num_samples)
        max_rows = validation.positive_int("max_rows_per_pass", max_rows_per_pass)
        seed = validation.seed_tensor(seed)
        if self._twin is not None:  # the model may have been trained since the last call
            _copy_weights(self.model, self._twin)
        batch = int(x.shape[0])
        rows = min(batch, max_rows)
        per_pass = max(1, max_rows // rows)
        results = []
        for start in range(0, batch, rows):
            x_part = x[start:start + rows]
            y_part = None if y is None else y[start:start + rows]
            total = None  # running log sum_i w_i, [rows]
            for i, first in enumerate(range(0, num_samples, per_pass)):
                k = min(per_pass, num_samples - first)
                part_seed = tf.random.experimental.stateless_fold_in(seed, start * num_samples + i)
                part = tf.reduce_logsumexp(
                    tf.cast(self._log_weights(x_part, k, part_seed, y_part), tf.float32), axis=0)
                total = part if total is None else tf.math.reduce_logsumexp(
                    tf.stack([total, part]), axis=0)
            results.append(total - math.log(num_samples))
        return tf.concat(results, axis=0)


def _low_precision_twin(model, precision):
    """A copy of `model` whose layers compute in `precision` (Keras' mixed policy: float32
    variables, low-precision arithmetic), with `model`'s weights."""
    import keras

    policy = f"mixed_{precision}"
    config = model.get_config()
    if "dtype" in config:
        config["dtype"] = policy
    # Layers a model creates for itself follow the global policy.
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        twin = type(model).from_config(config)
    finally:
        keras.config.set_dtype_policy(previous)
    _copy_weights(model, twin)
    return twin


def _copy_weights(source, target):
    target.set_weights(source.get_weights())


def _batches(dataset, model):
    """(x, labels) per batch: the labels a conditional model is evaluated with, else None."""
    for batch in dataset:
        x, y = (batch[0], batch[1] if len(batch) > 1 else None) \
            if isinstance(batch, (tuple, list)) else (batch, None)
        if not model.num_classes:
            y = None
        elif y is None:
            raise ValueError(
                f"A conditional model (num_classes={model.num_classes}) is evaluated on "
                "(x, labels) batches, e.g. zoo.data.load(..., with_labels=True). Received: "
                "batches without labels")
        yield x, y


_PARTS = ("recons", "kls", "kl_units", "lls", "means")


def _fingerprint(model, num_samples, seed, max_examples, precision):
    """What a saved partial evaluation must match to be resumed: the settings and the
    exact weights (a progress file of another model or run is never mixed in)."""
    digest = hashlib.sha256()
    for weight in model.weights:
        digest.update(np.ascontiguousarray(np.asarray(weight)).tobytes())
    settings = {"class": type(model).__name__, "num_samples": num_samples, "seed": seed,
                "max_examples": max_examples, "weights_sha256": digest.hexdigest()}
    if precision != "float32":  # files written before precisions existed stay resumable
        settings["precision"] = precision
    return json.dumps(settings, sort_keys=True)


class _Progress:
    """One self-overwriting line on stderr: examples done, running NLL, elapsed, ETA."""

    # Where stderr is a log file rather than a terminal, a line every this many seconds.
    LOG_INTERVAL = 30.0

    def __init__(self, total_batches, done_batches):
        self.total, self.start_batch, self.start = total_batches, done_batches, time.time()
        self.terminal = sys.stderr.isatty()
        self.last_line = 0.0

    def update(self, batch, seen, nll):
        elapsed = time.time() - self.start
        fields = [f"{seen} examples", f"NLL {nll:.3f}", f"{_clock(elapsed)} elapsed"]
        if self.total:
            fraction = (batch - self.start_batch) / max(1, self.total - self.start_batch)
            remaining = elapsed * (1 - fraction) / fraction if fraction > 0 else float("nan")
            fields = [f"batch {batch}/{self.total}", *fields, f"ETA {_clock(remaining)}"]
        line = "  " + " | ".join(fields)
        if self.terminal:
            sys.stderr.write("\r" + line)
        elif time.time() - self.last_line >= self.LOG_INTERVAL or batch == self.total:
            sys.stderr.write(line + "\n")
            self.last_line = time.time()
        sys.stderr.flush()

    def close(self):
        if self.terminal:
            sys.stderr.write("\n")
            sys.stderr.flush()


def _clock(seconds):
    if not math.isfinite(seconds):
        return "?"
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def _num_batches(dataset):
    """Batches in `dataset`, if it knows its length; else None."""
    try:
        count = int(dataset.cardinality())
    except (AttributeError, TypeError):
        try:
            count = len(dataset)
        except TypeError:
            return None
    return count if count >= 0 else None  # tf.data's INFINITE or UNKNOWN: None


def _load_progress(path, fingerprint):
    if not path or not os.path.exists(path):
        return None
    try:
        with np.load(path, allow_pickle=False) as saved:
            if str(saved["fingerprint"]) != fingerprint:
                raise ValueError(
                    f"progress_path holds a partial evaluation of another model or with other "
                    f"settings; delete it or pick another file. Received: progress_path={path!r}")
            count = int(saved["batches"])
            parts = {name: [saved[f"{name}_{i}"] for i in range(count)] for name in _PARTS}
            return parts, float(saved["seconds"])
    except (OSError, KeyError, EOFError) as err:
        raise ValueError(f"progress_path is not a readable evaluation progress file ({err}). "
                         f"Received: progress_path={path!r}") from err


def _save_progress(path, fingerprint, parts, seconds):
    arrays = {f"{name}_{i}": a for name in _PARTS for i, a in enumerate(parts[name])}
    with io_utils.atomic_path(path, suffix=".npz") as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, fingerprint=np.array(fingerprint), batches=np.array(len(parts["lls"])),
                     seconds=np.array(seconds), **arrays)


def _check_binarization(model, x):
    """Warns when a model trained on binarized images is scored on grey levels: its figures
    would not be the ones its training protocol defines (nor comparable with them)."""
    if getattr(model, "binarize", None) and not isinstance(x, dict):
        values = np.asarray(x)
        if not np.all((values == 0) | (values == 1)):
            warnings.warn(
                f"The model was trained on binarized images (binarize={model.binarize!r}) but is "
                "evaluated on grey levels; load the data with binarize='static' for figures "
                "comparable with its training protocol", UserWarning, stacklevel=3)


def evaluate(model, dataset, num_samples=1000, seed=0, log_every=0, max_examples=None,
             progress_path=None, precision="float32", jit_compile=False, progress=False):
    """Evaluates `model` on every example of `dataset` and returns a dict of figures.

    Args:
      model: a `zoo.LatentVariableModel`.
      dataset: an iterable of batches `x` or `(x, y)` (e.g. from `zoo.data.load`).
      num_samples: int. Importance samples k for the NLL (Burda et al. 2016); the
        published MNIST protocol uses 5000, 1000 is the cheaper common variant. Defaults
        to 1000.
      seed: int. Seed of the posterior samples. Defaults to 0.
      log_every: int. Print progress every `log_every` batches; 0 is silent.
      max_examples: int or None. Stop after this many examples.
      progress_path: str or None. An `.npz` file the per-batch results are written to
        (atomically) after every batch. Started again with the same file, model and
        settings, the evaluation skips the batches already done and gives the same
        figures as an uninterrupted run: each batch's seed depends only on its index.
        For the long k = 5000 runs. Defaults to None.
      precision: str, one of `PRECISIONS`: the arithmetic of the networks in the
        importance-weighted estimate (see `ImportanceWeightedEstimator`). The ELBO terms
        and embeddings are float32 always. Defaults to "float32".
      jit_compile: bool. Compile the estimator's passes with XLA. Defaults to False.
      progress: bool. Show a progress line with the running NLL and an ETA on stderr.
        Defaults to False.

    Returns:
      dict with `num_examples`, `num_samples`, `elbo` (mean, nats), `nll` (= -mean
        log p(x), nats), `nll_stderr` (standard error of that mean over examples, nats),
        `bits_per_dim` (the NLL in bits per data dimension), `reconstruction` and `kl`
        (the ELBO's two terms, mean nats), `active_units` (covariance criterion of Burda
        et al., on `embed`), `active_units_kl` (latent dimensions with mean KL > the
        model's threshold; None for a model whose KL does not split by dimension, a flow
        prior) and `seconds` (wall-clock, including earlier runs resumed from
        `progress_path`).

    Raises:
      ValueError: `dataset` is empty, or `progress_path` belongs to another model or
        other settings.
    """
    num_samples = validation.positive_int("num_samples", num_samples)
    estimator = ImportanceWeightedEstimator(model, precision, jit_compile)
    start = time.time()
    fingerprint = (_fingerprint(model, num_samples, seed, max_examples, estimator.precision)
                   if progress_path else None)
    restored = _load_progress(progress_path, fingerprint)
    parts = restored[0] if restored else {name: [] for name in _PARTS}
    earlier_seconds = restored[1] if restored else 0.0
    recons, kls, kl_units, lls, means = (parts[name] for name in _PARTS)
    done = len(lls)
    elbos = [-(r + k) for r, k in zip(recons, kls)]
    seen = sum(len(r) for r in recons)
    bar = _Progress(_num_batches(dataset), done) if progress else None
    for i, (x, y) in enumerate(_batches(dataset, model)):
        if max_examples is not None and seen >= max_examples:
            break
        if i < done:
            continue
        if i == done and bar and bar.total and max_examples is not None:  # stops early
            bar.total = min(bar.total, math.ceil(max_examples / max(1, int(x.shape[0]))))
        if max_examples is not None:
            x = x[: max_examples - seen]
            y = None if y is None else y[: max_examples - seen]
        if i == done:
            _check_binarization(model, x)
        terms = model.elbo_terms(x, seed=seed + 2 * i, labels=y)
        recons.append(terms["reconstruction"].numpy())
        kls.append(terms["kl"].numpy())
        kl_units.append(terms["kl_dims"].numpy())
        elbos.append(-(recons[-1] + kls[-1]))
        codes = None if y is None else model.label_codes(y, len(recons[-1]))
        lls.append(estimator(model.check_input("x", x), num_samples, seed + 2 * i + 1,
                             y=codes).numpy())
        means.append(np.reshape(model.embed(x, labels=y).numpy(), (len(recons[-1]), -1)))
        seen += len(recons[-1])
        if progress_path:
            _save_progress(progress_path, fingerprint, parts, earlier_seconds + time.time() - start)
        if bar:
            bar.update(i + 1, seen, -np.mean(np.concatenate(lls)))
        if log_every and (i + 1) % log_every == 0:
            print(f"  evaluated {seen} examples, running NLL {-np.mean(np.concatenate(lls)):.3f}"
                  f" ({time.time() - start:.0f}s)", flush=True)
    if bar:
        bar.close()
    if not seen:
        raise ValueError("dataset is empty. Received: a dataset with 0 examples")
    ll = np.concatenate(lls)
    nll = float(-ll.mean())
    num_dims = math.prod(model.data_shape)
    unit_kl = np.concatenate(kl_units).mean(axis=0)
    posterior_means = np.concatenate(means)
    return {
        "num_examples": int(seen),
        "num_samples": num_samples,
        "elbo": float(np.concatenate(elbos).mean()),
        "nll": nll,
        "nll_stderr": float(ll.std(ddof=1) / np.sqrt(len(ll))) if len(ll) > 1 else 0.0,
        "bits_per_dim": nll / (num_dims * math.log(2.0)),
        "reconstruction": float(np.concatenate(recons).mean()),
        "kl": float(np.concatenate(kls).mean()),
        "active_units": int(np.sum(posterior_means.var(axis=0) > ACTIVE_UNIT_COVARIANCE)),
        "active_units_kl": (int(np.sum(unit_kl > model.active_unit_threshold))
                            if model.kl_splits_by_dimension else None),
        "seconds": round(earlier_seconds + time.time() - start, 2),
    }


def kl_per_unit(model, dataset, max_examples=None, seed=0):
    """Mean KL per latent dimension over `dataset` (a posterior-collapse monitor).

    Args:
      model: a zoo model whose KL splits by dimension (not a flow prior).
      dataset: an iterable of batches `x` or `(x, y)`.
      max_examples: int or None. Stop once this many examples are seen; the last
        batch is used whole. Defaults to None (all).
      seed: int. Seed of the posterior samples (batch i uses `seed + i`). Defaults to 0.

    Returns:
      numpy float32 `[num_latent_dims]`, nats per example.

    Raises:
      ValueError: `dataset` is empty, or the model's KL does not split by dimension.
    """
    require_kl_by_dimension(model)
    total, seen = None, 0
    for i, (x, y) in enumerate(_batches(dataset, model)):
        if max_examples is not None and seen >= max_examples:
            break
        units = model.elbo_terms(x, seed=seed + i, labels=y)["kl_dims"].numpy()
        total = units.sum(axis=0) if total is None else total + units.sum(axis=0)
        seen += len(units)
    if not seen:
        raise ValueError("dataset is empty. Received: a dataset with 0 examples")
    return total / seen


def require_kl_by_dimension(model):
    """Refuses a model whose KL has no per-dimension split (a flow prior): a clear error
    instead of a one-bar "per dimension" answer.

    Raises:
      ValueError: `model.kl_splits_by_dimension` is False.
    """
    if not model.kl_splits_by_dimension:
        raise ValueError(f"model: the KL of a {type(model).__name__} does not split by latent "
                         "dimension (its prior is not factorised), so there is no KL per "
                         "dimension. Use `active_units` (covariance criterion) instead. "
                         f"Received: a {type(model).__name__}")


def summarize(figures):
    """One line of the headline figures, for logs and the CLI.

    Args:
      figures: dict returned by `evaluate`.

    Returns:
      str. ELBO and NLL (with its standard error) in nats, bits/dim, KL in nats,
        active units and the number of examples.
    """
    return (f"ELBO {figures['elbo']:.2f} nats | NLL (k={figures['num_samples']}) "
            f"{figures['nll']:.2f} +- {figures['nll_stderr']:.2f} nats | "
            f"{figures['bits_per_dim']:.4f} bits/dim | KL {figures['kl']:.2f} | "
            f"active units {figures['active_units']} | {figures['num_examples']} examples")

