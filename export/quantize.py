"""int8 samplers under an error budget: full integer where it holds, a per-op plan where not.

The AI Edge quantizer (`litert-quantizer`, Google's replacement for the converter's own
post-training quantization) quantizes a float32 `.tflite` op by op, selected by regular
expressions over the ops' output tensor names. `Int8Search` uses that to keep every op
it can in int8:

1. Full int8 (int8 weights and activations), calibrated once on the model's own noise.
2. If the sampler's mean absolute error against Keras is over the budget, a greedy search
   over the model's op groups (a group is the first two levels of an op's name, e.g.
   `decoder_1/head_1` or a flow prior's bijector chain) and their parents (`decoder_1`
   as a whole, for an error spread thinly over every layer of a network): each step
   tries every remaining scope in "dynamic" mode (int8 weights of its dense and
   convolution layers, activations quantized on the fly, every other op of the scope in
   float), then, only if no dynamic step helps, in "float16" (float16 weights, float
   arithmetic), then "float". A step takes the smallest file among the trials that meet
   the budget, else the trial with the lowest error. It stops as soon as the budget
   holds. If a few steps do not get there, it restarts from all weight layers in
   dynamic mode and takes scopes to float16 or float from there.

What the mean error does not see: which ops the error comes from. On `vae_cifar10`, the
flow prior's rounding (a small move of z) leaves the samples' distribution where it was,
while int8 weights in the decoder's convolutions shift it by far more than their share of
the mean error (benchmarks/experiments/int8_groups.py). Where sample statistics matter,
check the distribution (benchmarks/quality/int8_presets.py does) and tighten `budget`:
the search then reaches float16 weights for the decoder as one scope.

Calibration traps measured on the presets, and what is done about them:
- The quantizer keeps a moving average of each calibration step's min/max: the whole
  calibration set goes in as one batch, so the ranges are those of all of it.
- Per-channel weight scales of a MAF's masked dense layers (output channels that are all
  zero) collapse to ~0 and wipe out the bias: dense layers use one scale per tensor in
  int8 mode; convolutions keep per-channel scales. Dynamic mode keeps biases in float, so
  it uses per-channel scales everywhere.
- A sequential flow (sampling a MAF unrolls it over the latent dimensions) accumulates the
  activation rounding of every step: its dense layers are the usual "dynamic" group.

A plan is a list of `(scope regex, mode)` pairs applied after "everything int8", later
pairs overriding earlier ones; the plan used is written into the file's metadata.
"""

import collections
import re

import numpy as np


#: Modes of a plan entry: int8 weights and activations; int8 weights with activations
#: quantized at run time (dense and convolution layers; other ops float); float16
#: weights with float arithmetic (half the float size, 2**-11 relative rounding against
#: int8's ~2**-8 per channel); all float.
PLAN_MODES = ("int8", "dynamic", "float16", "float")
#: The sampler's mean absolute error against Keras that int8 must meet, relative to
#: max(1, max |output|): 0.01 of a pixel's [0, 1] range.
MEAN_ERROR_BUDGET = 0.01
_WEIGHT_OPS = ("FULLY_CONNECTED", "CONV_2D", "DEPTHWISE_CONV_2D", "CONV_2D_TRANSPOSE",
               "BATCH_MATMUL")
#: The weight ops the quantizer casts to float16 (no BATCH_MATMUL).
_FLOAT16_OPS = ("FULLY_CONNECTED", "CONV_2D", "DEPTHWISE_CONV_2D", "CONV_2D_TRANSPOSE")


def check_plan(plan):
    """`plan` as a list of (regex str, mode str) tuples, or a clear error.

    Raises:
      TypeError: not a list of pairs. ValueError: a bad regex or an unknown mode.
    """
    try:
        pairs = [(scope, mode) for scope, mode in plan]
    except (TypeError, ValueError) as err:
        raise TypeError("plan must be a list of (scope regex, mode) pairs. "
                        f"Received: plan={plan!r}") from err
    for scope, mode in pairs:
        if mode not in PLAN_MODES:
            raise ValueError(f"plan modes must be one of {list(PLAN_MODES)}. Received: {mode!r} "
                             f"for scope {scope!r}")
        try:
            re.compile(scope)
        except (TypeError, re.error) as err:
            raise ValueError(f"plan scopes must be regular expressions. Received: {scope!r}") from err
    return pairs


#: The group of ops with a one-level name: the graph's outputs (e.g. the final sigmoid)
#: and slices.
TOP_LEVEL = "<top level>"


def op_groups(flatbuffer):
    """The op groups of a `.tflite` model, in graph order: the first two levels of each
    op's output name (`decoder_1/head_1/...` -> `decoder_1/head_1`), and `TOP_LEVEL` for
    ops with a one-level name (an output, a slice)."""
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(flatbuffer))
    groups = []
    for subgraph in model.subgraphs:
        for op in subgraph.operators:
            for index in op.outputs:
                parts = subgraph.tensors[index].name.decode().split(";")[0].split("/")
                group = "/".join(parts[:2]) if len(parts) > 2 else TOP_LEVEL
                if group not in groups:
                    groups.append(group)
    return groups


def scope_of(group):
    """The regex of one op group (see `op_groups`)."""
    if group == TOP_LEVEL:
        return r"^[^/;]*(;|$)"
    return "^" + re.escape(group) + "/"


def apply_plan(quantizer, plan, per_channel_dense=False):
    """Sets the recipe of a `litert_quantizer.Quantizer`: everything int8, then `plan`."""
    from litert_quantizer import qtyping

    op = qtyping.TFLOperationName
    tensorwise, channelwise = qtyping.QuantGranularity.TENSORWISE, qtyping.QuantGranularity.CHANNELWISE
    quantizer.add_static_config(".*", op.ALL_SUPPORTED, 8, 8,
                                channelwise if per_channel_dense else tensorwise)
    for name in ("CONV_2D", "DEPTHWISE_CONV_2D", "CONV_2D_TRANSPOSE"):
        if hasattr(op, name):
            quantizer.add_static_config(".*", getattr(op, name), 8, 8, channelwise)
    for scope, mode in plan:
        if mode == "int8":
            quantizer.add_static_config(scope, op.ALL_SUPPORTED, 8, 8, tensorwise)
        else:
            quantizer.update_quantization_recipe(scope, op.ALL_SUPPORTED, algorithm_key="no_quantize")
        if mode == "dynamic":
            for name in _WEIGHT_OPS:
                if hasattr(op, name):
                    quantizer.add_dynamic_config(scope, getattr(op, name), 8, channelwise)
        elif mode == "float16":
            half = qtyping.OpQuantizationConfig(
                weight_tensor_config=qtyping.TensorQuantizationConfig(
                    num_bits=16, dtype=qtyping.TensorDataType.FLOAT),
                compute_precision=qtyping.ComputePrecision.FLOAT, explicit_dequantize=True)
            for name in _FLOAT16_OPS:
                quantizer.update_quantization_recipe(scope, getattr(op, name), half,
                                                     algorithm_key="float_casting")
    # Last, so no plan entry overrides it. Float noise in, float samples out, quantized
    # inside the graph: without this the quantizer makes the signature inputs and outputs
    # int8 too, which runtimes without an int8 tensor type (LiteRT.js) cannot feed
    # (`int8_io=True` is the converter's path).
    for io in (op.INPUT, op.OUTPUT):
        quantizer.update_quantization_recipe(".*", io, algorithm_key="no_quantize")


def _chunks(calibration, batch_size):
    """`calibration` ({signature: {input: array [n, ...]}}) as a list of such dicts with
    `batch_size` rows each; the last chunk is filled up with the first rows (already
    seen, so no range moves)."""
    n = len(next(iter(next(iter(calibration.values())).values())))
    chunks = []
    for start in range(0, n, batch_size):
        rows = np.arange(start, start + batch_size) % n
        chunks.append({key: {name: value[rows] for name, value in inputs.items()}
                       for key, inputs in calibration.items()})
    return chunks


def calibrate(calibrator, calibration, batch_size=None):
    """Ranges of every tensor of `calibrator`'s model (a `litert_quantizer.Quantizer`)
    over `calibration` ({signature: {input: array}}), as if fed in one batch.

    One call with the whole set when the batch is dynamic: the quantizer's merge across
    calibration steps is a moving average, which would narrow the ranges. With a fixed
    `batch_size`, one call per chunk and the min / max of the chunks' ranges."""
    from litert_quantizer.utils import qsv_utils

    if batch_size is None:
        return calibrator.calibrate({key: [inputs] for key, inputs in calibration.items()})
    ranges = {}
    for chunk in _chunks(calibration, batch_size):
        found = calibrator.calibrate({key: [inputs] for key, inputs in chunk.items()})
        ranges = {name: qsv_utils.min_max_update(ranges.get(name), qsv) if qsv else ranges.get(name, qsv)
                  for name, qsv in found.items()}
    return ranges


class Int8Search:
    """Quantizes one float32 flatbuffer under any number of plans, calibrated once.

    Args:
      float_flatbuffer: bytes. The float32 `.tflite` model (its signatures named).
      calibration: dict `{signature: {input name: array [n, ...]}}`, fed as one batch.
      error_of: callable(bytes) -> float. The mean absolute error of a quantized model.
      per_channel_dense: bool. One weight scale per output unit of dense layers in int8
        mode (see the module docstring for why not by default). Defaults to False.
      batch_size: int or None. The fixed batch of `float_flatbuffer`'s inputs, or None
        (dynamic). With a fixed batch the calibration set goes in as chunks of that
        size, and each tensor's range is the min and max over all chunks: the ranges of
        the whole set, as one batch gives them (the quantizer's own merge across steps
        is a moving average). Defaults to None.
    """

    def __init__(self, float_flatbuffer, calibration, error_of, per_channel_dense=False,
                 batch_size=None):
        from litert_quantizer import quantizer as aeq

        self._aeq = aeq
        self.float_flatbuffer = bytes(float_flatbuffer)
        self.error_of = error_of
        self.per_channel_dense = per_channel_dense
        calibrator = aeq.Quantizer(bytearray(self.float_flatbuffer))
        apply_plan(calibrator, [])
        self._ranges = calibrate(calibrator, calibration, batch_size)
        self.history = []

    def quantize(self, plan):
        """The int8 flatbuffer (bytes) of `plan`."""
        quantizer = self._aeq.Quantizer(bytearray(self.float_flatbuffer))
        apply_plan(quantizer, plan, self.per_channel_dense)
        result = quantizer.quantize(self._ranges, enable_progress_bar=False,
                                    enable_progress_report=False)
        return bytes(result.quantized_model)

    def measure(self, plan):
        """(flatbuffer, mean error) of `plan`, recorded in `history`.

        A plan the quantizer cannot apply (it refuses some per-channel layouts with a
        ValueError), or whose file the interpreter cannot run (a RuntimeError: an int8
        division whose divisor rounds to its zero-point), is a dead end, not the end of
        the search: it measures as (None, inf), its history entry says why, and the
        search goes on to plans that keep the failing op out of int8.
        """
        entry = {"plan": [list(p) for p in plan]}
        try:
            flatbuffer = self.quantize(plan)
            error = float(self.error_of(flatbuffer))
        except (ValueError, RuntimeError) as err:
            # JSON has no inf: the history keeps None, the search compares inf.
            self.history.append({**entry, "mean_abs_error": None,
                                 "failed": f"{type(err).__name__}: {err}"[:500]})
            return None, float("inf")
        self.history.append({**entry, "mean_abs_error": error, "size_bytes": len(flatbuffer)})
        return flatbuffer, error

    def search(self, budget, max_steps=4):
        """The first plan under `budget` by the greedy search of the module docstring.

        When `max_steps` steps from full int8 do not reach the budget (the error is spread
        over many layers, as in a sharp GAN-trained decoder), it starts again from every
        weight layer in dynamic mode and takes scopes to float16 or float from there.

        Returns:
          (flatbuffer, plan, error) of the plan found, or of the best one tried when none
          meets the budget (the caller decides what to do); (None, plan, inf) when no
          plan tried could be quantized and run (see `measure`).
        """
        found = self._greedy([], self.measure([]), budget, max_steps,
                             ("dynamic", "float16", "float"))
        if found[2] <= budget:
            return found
        everything = [(".*", "dynamic")]
        second = self._greedy(everything, self.measure(everything), budget, max_steps,
                              ("float16", "float"))
        return min(found, second, key=lambda result: result[2])

    def _greedy(self, plan, best, budget, max_steps, modes):
        """Greedy steps from `plan` (measured: `best` = (flatbuffer, error))."""
        scopes = search_scopes(op_groups(self.float_flatbuffer))
        for _ in range(max_steps):
            if best[1] <= budget:
                break
            step = None
            # Keep weights in int8 where that helps: a scope goes to float16 only when no
            # dynamic step lowers the error, and to float only when float16 does not.
            for mode in modes:
                trials = []
                for scope in scopes:
                    if _MODE_PRECISION[_mode_of(plan, scope)] >= _MODE_PRECISION[mode]:
                        continue
                    candidate = [p for p in plan if p[0] != scope] + [(scope, mode)]
                    flatbuffer, error = self.measure(candidate)
                    trials.append((error, candidate, flatbuffer))
                within = [t for t in trials if t[0] <= budget]
                if within:  # the smallest file that meets the budget
                    step = min(within, key=lambda t: len(t[2]))
                elif trials and min(t[0] for t in trials) < best[1]:
                    step = min(trials, key=lambda t: t[0])
                if step is not None:
                    break
            if step is None:
                break  # nothing helps any more
            error, plan, flatbuffer = step
            best = (flatbuffer, error)
        return best[0], plan, best[1]


#: Plan modes from the least to the most precise.
_MODE_PRECISION = {mode: rank for rank, mode in enumerate(PLAN_MODES)}


def search_scopes(groups):
    """The scopes the search tries: each op group's, then each parent shared by two or
    more groups (`^decoder_1/` for `decoder_1/seed_1`, `decoder_1/head_1`, ...)."""
    parents = collections.Counter(group.split("/")[0] for group in groups if group != TOP_LEVEL)
    shared = [parent for parent, count in parents.items() if count > 1]
    return [scope_of(group) for group in groups] + [scope_of(parent) for parent in shared]


def _mode_of(plan, scope):
    """The mode `plan` gives the ops of `scope`: its last entry for the scope, a parent
    scope of it (a regex prefix) or every op (".*"); "int8" when none."""
    mode = "int8"
    for entry_scope, entry_mode in plan:
        if entry_scope == ".*" or scope.startswith(entry_scope):
            mode = entry_mode
    return mode
