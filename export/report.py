"""Export report: size, error against Keras and latency for each exported target."""

import json
import os
import subprocess
import sys

import numpy as np

from export.edge import EdgeSampler
from zoo import io_utils
from zoo.evaluation import speed

# Timed in a child process so TensorFlow can be held to one intra-op thread, which must
# be set before it starts; the parent's TensorFlow is already running with all cores.
_SAVED_MODEL_TIMER = r"""
import json, sys, time
import numpy as np, tensorflow as tf
path, noise_dim, repeats, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
labels = json.loads(sys.argv[5])  # null for an unconditional sampler (it takes no labels)
tf.config.threading.set_intra_op_parallelism_threads(threads)
tf.config.threading.set_inter_op_parallelism_threads(1)
fn = tf.saved_model.load(path).signatures["serving_default"]
out = {}
for batch in map(int, sys.argv[6:]):
    inputs = {"noise": tf.constant(np.random.default_rng(0).standard_normal((batch, noise_dim)), tf.float32)}
    if labels is not None:
        inputs["labels"] = tf.constant(labels[:batch], tf.int32)
    for _ in range(10):
        fn(**inputs)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn(**inputs)["samples"].numpy()
        times.append(time.perf_counter() - start)
    out[batch] = times
print(json.dumps(out))
"""


def _percentiles(times):
    ms = np.asarray(times) * 1e3
    return round(float(np.percentile(ms, 50)), 4), round(float(np.percentile(ms, 95)), 4)


def _errors(got, expected):
    error = np.abs(np.asarray(got, np.float64) - expected)
    return float(error.max()), float(error.mean())


def _time_edge(sampler, noise_dim, batch, repeats, rng, labels):
    noise = rng.standard_normal((batch, noise_dim)).astype(np.float32)
    labels = None if labels is None else labels[:batch]
    return speed.time_calls(lambda: sampler.sample_from_noise(noise, labels), repeats, warmup=10)


def report_labels(model, num_vectors):
    """Every class in turn, `[num_vectors]` int32, for a conditional model; else None."""
    num_classes = getattr(model, "num_classes", None)
    return None if num_classes is None else np.arange(num_vectors, dtype=np.int32) % num_classes


def build_report(model, saved_model_dir=None, tflite_paths=(), num_vectors=1000, seed=0,
                 batch_sizes=(1, 64), num_threads=1, repeats=200):
    """Measures each exported target against `model` on the same noise vectors.

    Args:
      model: the Keras model the targets were exported from (the reference).
      saved_model_dir: optional `base_dir/<version>` written by `export.saved_model`.
      tflite_paths: `.tflite` files written by `export.tflite`.
      num_vectors: int. Noise vectors for the error figures. Defaults to 1000.
      seed: int. Seed of the noise. Defaults to 0.
      batch_sizes: batch sizes timed; empty for sizes and errors only. Defaults to (1, 64).
      num_threads: int. Threads of every runtime. Defaults to 1.
      repeats: int. Timed calls per batch size (after 10 warm-up calls). Defaults to 200.

    A conditional model's targets are measured with every class in turn as the labels.

    Returns:
      A list of dicts, one per target: `target`, `size_bytes`, `max_abs_error`,
        `mean_abs_error`, and `p50_ms_b<batch>` / `p95_ms_b<batch>` per batch size.
    """
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal((num_vectors, model.noise_dim)).astype(np.float32)
    labels = report_labels(model, max(num_vectors, *batch_sizes, 64))

    def part(i):  # the labels of rows i .. i + 64, or None
        return None if labels is None else labels[i:i + 64]

    expected = np.concatenate([np.asarray(model.sample_from_noise(noise[i:i + 64], labels=part(i)),
                                          np.float64) for i in range(0, num_vectors, 64)])
    rows = []
    if saved_model_dir is not None:
        import tensorflow as tf

        fn = tf.saved_model.load(saved_model_dir).signatures["serving_default"]
        def call(i):
            inputs = {"noise": tf.constant(noise[i:i + 64])}
            if labels is not None:
                inputs["labels"] = tf.constant(part(i))
            return fn(**inputs)["samples"].numpy()

        got = np.concatenate([call(i) for i in range(0, num_vectors, 64)])
        if batch_sizes:  # no child process when no latency is asked for
            env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "OMP_NUM_THREADS": str(num_threads)}
            result = subprocess.run(
                [sys.executable, "-c", _SAVED_MODEL_TIMER, saved_model_dir, str(model.noise_dim),
                 str(repeats), str(num_threads),
                 json.dumps(None if labels is None else labels.tolist()), *map(str, batch_sizes)],
                capture_output=True, text=True, env=env, check=True)
            times = json.loads(result.stdout.strip().splitlines()[-1])
        row = {"target": "SavedModel", "size_bytes": io_utils.directory_size(saved_model_dir)}
        row["max_abs_error"], row["mean_abs_error"] = _errors(got, expected)
        for batch in batch_sizes:
            row[f"p50_ms_b{batch}"], row[f"p95_ms_b{batch}"] = _percentiles(times[str(batch)])
        rows.append(row)
    for path in tflite_paths:
        sampler = EdgeSampler(path, num_threads=num_threads)
        got = np.concatenate([sampler.sample_from_noise(noise[i:i + 64], part(i))
                              for i in range(0, num_vectors, 64)])
        row = {"target": f"TFLite {sampler.quantization}"
                         + (" (int8 I/O)" if sampler.metadata.get("int8_io") else ""),
               "size_bytes": os.path.getsize(path)}
        row["max_abs_error"], row["mean_abs_error"] = _errors(got, expected)
        for batch in batch_sizes:
            times = _time_edge(sampler, model.noise_dim, batch, repeats, rng, labels)
            row[f"p50_ms_b{batch}"], row[f"p95_ms_b{batch}"] = _percentiles(times)
        rows.append(row)
    return rows


def format_report(rows, batch_sizes=(1, 64)):
    """The report as a markdown table.

    Args:
      rows: the list returned by `build_report`.
      batch_sizes: the batch sizes the rows were timed at. Defaults to (1, 64).

    Returns:
      str. One row per target: size in KiB, max and mean absolute error against Keras,
        and p50 / p95 latency in milliseconds per batch size.
    """
    header = ["target", "size", "max abs err", "mean abs err"]
    for batch in batch_sizes:
        header += [f"p50 ms (b={batch})", f"p95 ms (b={batch})"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = [row["target"], f"{row['size_bytes'] / 1024:,.1f} KiB",
                 f"{row['max_abs_error']:.2e}", f"{row['mean_abs_error']:.2e}"]
        for batch in batch_sizes:
            cells += [f"{row[f'p50_ms_b{batch}']:.3f}", f"{row[f'p95_ms_b{batch}']:.3f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
