"""TFLite export of a model's sampler, with metadata and a parity check built in."""

import json
import numbers
import os
import tempfile
import warnings
from collections.abc import Mapping

import numpy as np
import tensorflow as tf

from export import QUANTIZATIONS, graphs, quantize
from zoo import io_utils

METADATA_NAME = "vaezoo"

# Largest (max, mean) absolute error against Keras, relative to max(1, max |Keras
# output|), that export accepts per mode. Loose on purpose: they catch broken
# conversions (the NaN outputs seen with TFP bijector graphs, saturated or mis-scaled
# quantization), while the measured error, written into the file's metadata and the
# export report, is the real figure. The quantized max limits are wide because a
# trained Bernoulli decoder's worst pixel sits where its logit crosses 0: sigmoid is
# steepest there (slope 1/4), so int8 rounding accumulated through the convolutions
# moves that one probability by up to ~0.3 (measured on the vae_mnist preset), while
# the mean error stays ~0.006. A garbage graph fails the mean limit. int8 is held to
# the budget of `export.quantize` (mean 0.01 on 1,000 vectors, which its plan search
# meets); its max, like dynamic-range's, is reported, not limited: one pixel of a
# million flipping near a logit of 0 is what 8 bits do, not a broken graph (the GAN-trained
# and flow-prior presets' dynamic files reach 0.33-0.56 with a mean of 0.003-0.007).
PARITY_LIMITS = {"float32": (1e-4, 1e-5), "float16": (2e-2, 2e-3), "dynamic": (1.0, 0.01),
                 "int8": (1.0, quantize.MEAN_ERROR_BUDGET)}


class ConversionError(RuntimeError):
    """A converted graph does not reproduce the Keras model (NaN, or error over limit).

    Attributes:
      check: the parity measurement that failed (as in the metadata's "parity").
      flatbuffer: the refused `.tflite` bytes, with metadata, for whoever wants to study
        or measure the failed conversion without converting again (it is not written
        to `path`).
    """

    def __init__(self, message, check=None, flatbuffer=None):
        super().__init__(message)
        self.check, self.flatbuffer = check, flatbuffer


def _calibration_inputs(spec, num_samples, seed, signatures):
    """{signature: {input: array}}: the model's own noise and the latents it maps to (and,
    for a conditional sampler, class labels drawn uniformly, so every class is seen)."""
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal((num_samples, spec.noise_dim)).astype(np.float32)
    extra = {}
    if "labels" in spec.extra_inputs:
        num_classes = int(spec.num_classes)
        extra["labels"] = (np.arange(num_samples) % num_classes).astype(np.int32)
        rng.shuffle(extra["labels"])
    latents = np.asarray(spec.latent_from_noise(tf.constant(noise), *map(tf.constant, extra.values())),
                         np.float32)
    inputs = {"decode": {"z": latents, **extra}}
    if "sample_from_noise" in signatures:
        inputs["sample_from_noise"] = {"noise": noise, **extra}
    return inputs


def _representative_dataset(spec, num_samples, seed, signatures, batch_size=None):
    """Calibration inputs for the converter, one example per step (`batch_size` of them
    for a fixed-batch graph), for each signature."""
    inputs = _calibration_inputs(spec, num_samples, seed, signatures)
    step = batch_size or 1

    def generator():
        for i in range(0, num_samples - step + 1, step):
            for key in ("sample_from_noise", "decode"):
                if key in inputs:
                    yield key, {name: value[i:i + step] for name, value in inputs[key].items()}

    return generator


def _configure(converter, quantization, model, signatures, int8_io, calibration_samples, seed,
               per_channel_dense=False, batch_size=None):
    if quantization == "float32":
        return
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    # Per-channel quantization stores a float32 scale and an int64 zero point per output
    # unit of every dense weight and bias, in each signature's subgraph: for a decoder
    # whose first layer has 3,136 units that is ~150 KB, more than half the int8 weights.
    # Convolutions keep per-channel scales (few channels, and they matter for accuracy).
    converter._experimental_disable_per_channel_quantization_for_dense_layers = not per_channel_dense
    if quantization == "float16":
        converter.target_spec.supported_types = [tf.float16]
    elif quantization == "int8":
        converter.representative_dataset = _representative_dataset(
            model.sampler_spec(), calibration_samples, seed, signatures, batch_size)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        if int8_io:
            converter.inference_input_type = tf.int8
            converter.inference_output_type = tf.int8
    # "dynamic": DEFAULT optimizations without a representative dataset quantize the
    # weights to int8 and keep activations in float.


def finalize(flatbuffer, metadata, alias_sampler=False):
    """Returns `flatbuffer` with `metadata` (JSON) stored under the name "vaezoo".

    TFLite models carry named metadata buffers (the converter adds its own), so the
    `.tflite` file alone tells a device what the sampler expects. With `alias_sampler`,
    also adds a `sample_from_noise` signature (`noise` -> `samples`) on the subgraph of
    `decode`: same tensors under the sampler's names (`z` becomes `noise`; a conditional
    sampler's `labels` keep their name).

    Args:
      flatbuffer: bytes. A converted `.tflite` model.
      metadata: dict. JSON-serialisable; see `graphs.metadata`.
      alias_sampler: bool. Add the `sample_from_noise` alias of `decode` (for a sampler
        whose noise is the latent). Defaults to False.

    Returns:
      bytes. The new flatbuffer.
    """
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(flatbuffer))
    # Constant data stored after the flatbuffer (buffers with an offset, as the AI Edge
    # quantizer writes them) would be lost in re-serialising: move it inside.
    for entry in model.buffers:
        if getattr(entry, "offset", 0) > 1:
            entry.data = np.frombuffer(flatbuffer, np.uint8, count=entry.size, offset=entry.offset)
            entry.offset, entry.size = 0, 0
    buffer = schema.BufferT()
    buffer.data = np.frombuffer(json.dumps(metadata).encode("utf-8"), dtype=np.uint8)
    model.buffers.append(buffer)
    entry = schema.MetadataT()
    entry.name = METADATA_NAME
    entry.buffer = len(model.buffers) - 1
    model.metadata = (model.metadata or []) + [entry]
    if alias_sampler:
        (decode,) = [s for s in model.signatureDefs if s.signatureKey == b"decode"]
        alias = schema.SignatureDefT()
        alias.signatureKey = b"sample_from_noise"
        alias.subgraphIndex = decode.subgraphIndex
        alias.inputs, alias.outputs = [], [schema.TensorMapT()]
        for source in decode.inputs:
            entry = schema.TensorMapT()
            entry.name = b"noise" if source.name == b"z" else source.name
            entry.tensorIndex = source.tensorIndex
            alias.inputs.append(entry)
        alias.outputs[0].name, alias.outputs[0].tensorIndex = b"samples", decode.outputs[0].tensorIndex
        model.signatureDefs.append(alias)
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


class ParityCheck:
    """Compares `.tflite` samplers with the Keras model on the same fixed noise.

    The Keras reference is computed once, when the check is made: the int8 plan search
    measures dozens of candidate files, and the final verification re-reads the same
    vectors, against one reference.

    Args:
      model: the Keras model the flatbuffers are converted from.
      num_vectors: int. Standard-normal noise vectors compared. Defaults to 64.
      seed: int. Seed of the noise (and of the class labels of a conditional model,
        drawn after it). Defaults to 0.
      batch_size: int. Vectors per interpreter call. Defaults to 64.
    """

    def __init__(self, model, num_vectors=64, seed=0, batch_size=64):
        rng = np.random.default_rng(seed)
        self.noise = rng.standard_normal((num_vectors, model.noise_dim)).astype(np.float32)
        self.labels = (rng.integers(0, model.num_classes, num_vectors).astype(np.int32)
                       if model.num_classes else None)
        self.batch_size = batch_size
        self.expected = np.concatenate([
            np.asarray(model.sample_from_noise(self.noise[i:i + 250], labels=self._labels(i, 250)),
                       np.float64) for i in range(0, num_vectors, 250)])
        self.output_scale = float(max(1.0, np.abs(self.expected).max()))

    def _labels(self, start, size):
        return None if self.labels is None else self.labels[start:start + size]

    def __call__(self, flatbuffer):
        """The parity of `flatbuffer` (bytes, with its vaezoo metadata): see `parity`."""
        from export.edge import EdgeSampler

        with tempfile.NamedTemporaryFile(suffix=".tflite") as f:
            f.write(flatbuffer)
            f.flush()
            sampler = EdgeSampler(f.name)
            got = np.concatenate([
                sampler.sample_from_noise(self.noise[i:i + self.batch_size],
                                          labels=self._labels(i, self.batch_size))
                for i in range(0, len(self.noise), self.batch_size)]).astype(np.float64)
        finite = bool(np.all(np.isfinite(got)))
        error = np.abs(got - self.expected)
        return {
            "num_vectors": len(self.noise),
            "max_abs_error": float(error.max()) if finite else float("inf"),
            "mean_abs_error": float(error.mean()) if finite else float("inf"),
            "finite": finite,
            "output_scale": self.output_scale,
        }

    def relative_mean_error(self, flatbuffer):
        """The mean absolute error of `flatbuffer` relative to max(1, max |output|)."""
        check = self(flatbuffer)
        return check["mean_abs_error"] / check["output_scale"]


def parity(model, flatbuffer, num_vectors=64, seed=0, batch_size=64, check=None):
    """Max and mean absolute error of the TFLite sampler against Keras on the same noise.

    Args:
      model: the Keras model the flatbuffer was converted from.
      flatbuffer: bytes. The `.tflite` model, with its vaezoo metadata.
      num_vectors: int. Standard-normal noise vectors compared. Defaults to 64.
      seed: int. Seed of the noise. Defaults to 0.
      batch_size: int. Vectors per interpreter call. Defaults to 64.
      check: an existing `ParityCheck` of the model to reuse (its reference computed
        already); `num_vectors`, `seed` and `batch_size` are then its own.

    Returns:
      dict. `num_vectors`, `max_abs_error` and `mean_abs_error` (floats, in the units of
        the samples; inf if any output is not finite), `finite` (bool) and `output_scale`
        (float, max(1, max |Keras output|), which `PARITY_LIMITS` are relative to).
    """
    return (check or ParityCheck(model, num_vectors, seed, batch_size))(flatbuffer)


def export_tflite(model, path, quantization="float32", int8_io=False, calibration_samples=500,
                  seed=0, verify=True, per_channel_dense=False, plan=None, budget=None,
                  batch_size=None):
    """Converts the model's sampler to a `.tflite` file and returns its path.

    The file has two signatures, `sample_from_noise` (`noise` -> `samples`) and `decode`
    (`z` -> `mean`), with a dynamic batch dimension (or a fixed one), and carries
    metadata (noise_dim, output shape, model name, quantization, measured parity) so
    `export.edge.EdgeSampler` needs nothing else. To write several quantizations of one model, use
    `export_tflite_variants`: it traces the graphs once for all of them.

    Args:
      model: a built zoo model.
      path: str. Destination `.tflite` file (written atomically).
      quantization: str. "float32", "float16" (float16 weights), "dynamic" (int8 weights,
        float activations) or "int8" (full integer; calibrated on the model's own noise).
        Defaults to "float32".
      int8_io: bool. With "int8", take int8 noise and return int8 samples (the
        quantization parameters are in the file) instead of float32. Defaults to False.
      calibration_samples: int. Noise vectors for int8 calibration. Defaults to 500.
      seed: int. Seed of the calibration and verification noise. Defaults to 0.
      verify: bool. Run the converted file against Keras on 64 noise vectors and raise
        `ConversionError` on NaN or a max or mean error above `PARITY_LIMITS`. Defaults to True.
      per_channel_dense: bool. Quantize dense layers per output unit instead of per
        tensor (quantized modes only): slightly more accurate, much larger file.
        Defaults to False.
      plan: with "int8", a list of `(scope regex, mode)` pairs (`export.quantize`) to use
        instead of searching for one: e.g. `[("^chain_of", "dynamic")]`. Modes: "int8",
        "dynamic", "float16" (float16 weights, float arithmetic) and "float". Defaults
        to None: full int8 if it meets the budget, else the plan the search finds.
      budget: with "int8", the largest mean absolute error against Keras (relative to
        max(1, max |output|)) on 1,000 noise vectors. Defaults to None:
        `export.quantize.MEAN_ERROR_BUDGET` (0.01). A tighter one keeps more in dynamic,
        float16 or float mode where the sample distribution must not move (see the int8
        write-up).
      batch_size: int or None. A fixed batch for every input and output, for runtimes
        that refuse a dynamic one (LiteRT.js in a browser). int8 is calibrated on the
        same set in chunks of the batch, to the ranges the dynamic-batch file gets.
        `EdgeSampler` runs such a file on any number of rows (padded chunks).
        Defaults to None: dynamic.

    Returns:
      str. `path`.

    Raises:
      ConversionError: with `verify`, the converted file does not reproduce the model.
    """
    return export_tflite_variants(
        model, {quantization: path}, int8_io=int8_io, calibration_samples=calibration_samples,
        seed=seed, verify=verify, per_channel_dense=per_channel_dense, plan=plan,
        budget=budget, batch_size=batch_size)[quantization]


def _check_targets(paths, int8_io):
    """`paths` as {quantization: path str}, or a ValueError/TypeError naming the bad entry."""
    if not isinstance(paths, Mapping) or not paths:
        raise TypeError("paths must be a non-empty dict {quantization: .tflite path}. "
                        f"Received: paths={paths!r}")
    checked = {}
    for quantization, path in paths.items():
        if quantization not in QUANTIZATIONS:
            raise ValueError(f"quantization must be one of {list(QUANTIZATIONS)}. "
                             f"Received: quantization={quantization!r}")
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"path must be a str or os.PathLike. Received: path={path!r}")
        path = os.fspath(path)
        if os.path.isdir(path):
            raise ValueError(f"path must be a file path, not a directory. Received: path={path!r}")
        checked[quantization] = path
    if int8_io and "int8" not in checked:
        quantization = next(iter(checked)) if len(checked) == 1 else list(checked)
        raise ValueError(f"int8_io needs quantization='int8'. Received: quantization={quantization!r}")
    targets = [os.path.abspath(p) for p in checked.values()]
    if len(set(targets)) != len(targets):
        raise ValueError(f"each quantization needs its own file. Received: paths={paths!r}")
    return checked


def export_tflite_variants(model, paths, int8_io=False, calibration_samples=500, seed=0,
                           verify=True, per_channel_dense=False, plan=None, budget=None,
                           batch_size=None):
    """Writes one `.tflite` sampler per quantization, from one traced graph.

    Each file is what `export_tflite` writes for its quantization, but the model's graphs
    are traced and saved once for all of them: most of a small model's export time.

        export.tflite_variants(model, {"float32": "vae_f32.tflite", "int8": "vae_int8.tflite"})

    Args:
      model: a built zoo model.
      paths: dict. {quantization: destination `.tflite` file}, converted in this order;
        each file is written atomically once its conversion passes the parity check.
        If one fails (`ConversionError`), the files before it are written, the later
        ones are not attempted.
      int8_io: bool. int8 inputs and outputs for the "int8" entry (which must be there).
      calibration_samples, seed, verify, per_channel_dense, plan, budget, batch_size: as
        in `export_tflite`.

    Returns:
      dict {quantization: path}.

    Raises:
      ConversionError: with `verify`, a converted file does not reproduce the model.
    """
    graphs.check_model(model)
    paths = _check_targets(paths, int8_io)
    if plan is not None:
        if "int8" not in paths or int8_io:
            raise ValueError("plan applies to quantization='int8' with float I/O. "
                             f"Received: quantizations {list(paths)}, int8_io={int8_io}")
        plan = quantize.check_plan(plan)
    if budget is not None:
        if "int8" not in paths or int8_io:
            raise ValueError("budget applies to quantization='int8' with float I/O. "
                             f"Received: quantizations {list(paths)}, int8_io={int8_io}")
        if isinstance(budget, bool) or not isinstance(budget, (int, float)) or not 0 < budget < 1:
            raise ValueError(f"budget must be a number in (0, 1). Received: budget={budget!r}")
    if batch_size is not None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) \
                or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer or None. "
                             f"Received: batch_size={batch_size!r}")
        batch_size = int(batch_size)
        if "int8" in paths and calibration_samples < batch_size:
            raise ValueError(f"calibration_samples must be at least batch_size ({batch_size}). "
                             f"Received: calibration_samples={calibration_samples!r}")
    # A sampler whose noise is the latent is decode itself: one subgraph serves both
    # signatures instead of two identical copies.
    shared = model.sampler_spec().noise_is_latent
    endpoints = graphs.sampler_endpoints(model, batch_size)
    if shared:
        del endpoints["sample_from_noise"]  # aliased onto decode's subgraph below
    float_conversion = {}  # float32 and the int8 search start from the same conversion
    with tempfile.TemporaryDirectory() as tmp:
        graphs.archive(model, endpoints).write_out(tmp, verbose=False)
        for quantization, path in paths.items():
            _convert_and_write(model, tmp, list(endpoints), shared, path, quantization,
                               int8_io and quantization == "int8", calibration_samples, seed,
                               verify, per_channel_dense, plan if quantization == "int8" else None,
                               budget, batch_size, float_conversion=float_conversion)
    return paths


def _convert_and_write(model, saved_dir, signature_keys, shared, path, quantization, int8_io,
                       calibration_samples, seed, verify, per_channel_dense, plan=None,
                       budget=None, batch_size=None, *, float_conversion):
    """Converts the SavedModel at `saved_dir` to `quantization`, checks parity, writes `path`.

    `float_conversion`: a dict shared by the calls on one SavedModel. The unconfigured
    (float32) conversion is the float32 file and also where the int8 search starts; it is
    kept there after the first call that makes it and reused by the next."""
    extra = list(model.sampler_spec().extra_inputs)
    meta = {**graphs.metadata(model), "quantization": quantization, "int8_io": bool(int8_io),
            "shared_subgraph": shared, "batch_size": batch_size,
            "signatures": {"sample_from_noise": {"inputs": ["noise", *extra], "outputs": ["samples"]},
                           "decode": {"inputs": ["z", *extra], "outputs": ["mean"]}}}
    # int8 with float I/O goes through the AI Edge quantizer and its per-op plan (see
    # export.quantize); int8 I/O stays with the converter, which owns the I/O types.
    searched = quantization == "int8" and not int8_io
    budget = float(budget) if budget is not None else quantize.MEAN_ERROR_BUDGET
    plain = searched or quantization == "float32"
    if plain and "flatbuffer" in float_conversion:
        flatbuffer = float_conversion["flatbuffer"]
    else:
        converter = tf.lite.TFLiteConverter.from_saved_model(saved_dir,
                                                             signature_keys=signature_keys)
        if not plain:
            _configure(converter, quantization, model, signature_keys, int8_io,
                       calibration_samples, seed, per_channel_dense, batch_size)
        with warnings.catch_warnings():
            # int8 calibration runs TF's own deprecated tf.lite.Interpreter internally.
            warnings.filterwarnings("ignore", message=".*tf.lite.Interpreter is deprecated")
            flatbuffer = converter.convert()
        if plain:
            float_conversion["flatbuffer"] = flatbuffer
    checker = None
    if searched:
        # int8 is held to its budget on 1,000 vectors (the first 64 of which are the
        # other modes' check): a 64-vector mean is too noisy near the limit. The search
        # and the final check share them, and the Keras reference.
        checker = ParityCheck(model, num_vectors=1000, seed=seed + 1, batch_size=250)
        flatbuffer, meta["plan"], meta["plan_search"] = _int8_with_plan(
            model, flatbuffer, meta, shared, signature_keys, calibration_samples, seed,
            per_channel_dense, plan, budget, checker, batch_size)
    if verify:
        unverified = finalize(flatbuffer, meta, shared)
        check = parity(model, unverified, seed=seed + 1,
                       num_vectors=1000 if quantization == "int8" else 64, check=checker)
        max_limit, mean_limit = (limit * check["output_scale"]
                                 for limit in PARITY_LIMITS[quantization])
        if searched:
            mean_limit = min(mean_limit, budget * check["output_scale"])
        if (not check["finite"] or check["max_abs_error"] > max_limit
                or check["mean_abs_error"] > mean_limit):
            raise ConversionError(
                f"The {quantization} TFLite conversion of {type(model).__name__} does not "
                f"reproduce the Keras model: max abs error {check['max_abs_error']:.3g} "
                f"(limit {max_limit:.3g}), mean abs error {check['mean_abs_error']:.3g} "
                f"(limit {mean_limit:.3g}), finite outputs: {check['finite']}.",
                check=check, flatbuffer=unverified)
        meta["parity"] = check
    with io_utils.atomic_path(path, suffix=".tflite") as tmp_path:
        with open(tmp_path, "wb") as f:
            f.write(finalize(flatbuffer, meta, shared))
    return path


def _int8_with_plan(model, float_flatbuffer, meta, shared, signature_keys, calibration_samples,
                    seed, per_channel_dense, plan, budget, checker, batch_size=None):
    """Quantizes `float_flatbuffer` to int8 under a mean error `budget` measured by
    `checker` (a `ParityCheck`): with `plan`, or with the plan `quantize.Int8Search`
    finds. Returns (flatbuffer, plan as a list of {"scope", "mode"} dicts, the search's
    summary). `batch_size`: the flatbuffer's fixed batch, or None."""
    def error_of(flatbuffer):
        return checker.relative_mean_error(finalize(flatbuffer, meta, shared))

    calibration = _calibration_inputs(model.sampler_spec(), calibration_samples, seed, signature_keys)
    search = quantize.Int8Search(float_flatbuffer, calibration, error_of, per_channel_dense,
                                 batch_size=batch_size)
    if plan is not None:  # checked by export_tflite_variants
        chosen = plan
        flatbuffer, error = search.measure(chosen)
    else:
        flatbuffer, chosen, error = search.search(budget)
    summary = {"budget": budget, "mean_abs_error": error,
               "num_vectors": 1000, "plans_tried": len(search.history),
               "full_int8_mean_abs_error": search.history[0]["mean_abs_error"]
               if plan is None else None}
    if plan is None and "failed" in search.history[0]:
        summary["full_int8_failed"] = search.history[0]["failed"]
    if flatbuffer is None:
        failures = [h for h in search.history if "failed" in h]
        raise ConversionError(
            f"No int8 plan for {type(model).__name__} could be quantized and run: "
            f"{len(failures)} of {len(search.history)} plans tried failed, the last with "
            f"{failures[-1]['failed']} (plan {failures[-1]['plan']!r}). Use "
            "quantization='dynamic' or 'float16', or pass a plan.",
            check={"mean_abs_error": None, "history": search.history})
    if error > budget:
        raise ConversionError(
            f"No int8 plan for {type(model).__name__} meets the mean error budget "
            f"{budget} against Keras: the best measured was {error:.3g} with "
            f"plan {chosen!r} ({len(search.history)} plans tried). Use quantization='dynamic' "
            "or 'float16', or pass a plan.",
            check={"mean_abs_error": error, "history": search.history},
            flatbuffer=finalize(flatbuffer, meta, shared))
    return flatbuffer, [{"scope": scope, "mode": mode} for scope, mode in chosen], summary
