"""Sampling an exported `.tflite` sampler on a device: numpy and a TFLite interpreter only.

This module never imports TensorFlow (nor the rest of vaezoo). It is the `vaezoo-edge`
distribution (`pip install ./edge`: numpy and LiteRT), and also what `export.edge`
re-exports in the full vaezoo install. The legacy interpreter works too:

    pip install "numpy<2" tflite-runtime    # legacy fallback (last release 2.14)

Example:

    from vaezoo_edge import EdgeSampler
    edge = EdgeSampler.from_preset("vae_mnist")   # the packaged int8 sampler
    edge = EdgeSampler("vae_mnist_int8.tflite")   # any file written by export.tflite
    images = edge.sample(16, seed=0)          # numpy [16, 28, 28, 1]
    images = edge.sample_from_noise(eps)      # eps: [n, edge.noise_dim] float32
    means = edge.decode(z)                    # z: [n, *edge.latent_shape]
    sevens = edge.sample(16, labels=[7] * 16, seed=0)   # a conditional sampler

Thread safety: a TFLite interpreter must not be invoked from two threads at once. Use one
`EdgeSampler` per thread (they can load the same file).
"""

import json
import numbers
import os
import struct
import sys
from importlib import resources

import numpy as np

from vaezoo_edge import labels as labels_module

METADATA_NAME = "vaezoo"


def _interpreter_class():
    """LiteRT's interpreter, else the legacy tflite-runtime one.

    In a process that has already loaded TensorFlow (exporting, testing), TensorFlow's
    own `tf.lite.Interpreter` is the last resort; this module never imports TensorFlow.
    """
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        try:
            from tflite_runtime.interpreter import Interpreter
        except ImportError:
            tf = sys.modules.get("tensorflow")
            if tf is None:
                raise ImportError(
                    "EdgeSampler needs a TFLite interpreter: `pip install ai-edge-litert` "
                    "(or the legacy `pip install \"numpy<2\" tflite-runtime`).") from None
            import warnings

            warnings.filterwarnings("ignore", message=".*tf.lite.Interpreter is deprecated")
            Interpreter = tf.lite.Interpreter
    return Interpreter


def read_tflite_metadata(buffer):
    """Named metadata buffers of a TFLite flatbuffer, `{name: bytes}`, parsed with `struct`.

    Reads only what is needed from the TFLite schema (Model.buffers = field 4,
    Model.metadata = field 6; Metadata.name = 0, Metadata.buffer = 1; Buffer.data = 0,
    Buffer.offset = 1, Buffer.size = 2), so it works without the schema modules that the
    legacy runtime does not ship.

    Args:
      buffer: bytes. The whole `.tflite` file.

    Returns:
      dict. `{name: bytes}` of each metadata entry; empty if the file has none.
    """
    buf = memoryview(buffer)

    def u16(p):
        return struct.unpack_from("<H", buf, p)[0]

    def u32(p):
        return struct.unpack_from("<I", buf, p)[0]

    def field(table, index):
        vtable = table - struct.unpack_from("<i", buf, table)[0]
        slot = 4 + 2 * index
        if slot >= u16(vtable):
            return None
        offset = u16(vtable + slot)
        return table + offset if offset else None

    def deref(pos):
        return pos + u32(pos)

    def vector(pos):
        start = deref(pos)
        return u32(start), start + 4

    root = u32(0)
    metadata_field, buffers_field = field(root, 6), field(root, 4)
    if metadata_field is None or buffers_field is None:
        return {}
    count, start = vector(metadata_field)
    _, buffers = vector(buffers_field)
    found = {}
    for i in range(count):
        entry = deref(start + 4 * i)
        name_field, index_field = field(entry, 0), field(entry, 1)
        if name_field is None:
            continue
        length, name_start = vector(name_field)
        name = bytes(buf[name_start:name_start + length]).decode("utf-8")
        table = deref(buffers + 4 * (u32(index_field) if index_field is not None else 0))
        data_field = field(table, 0)
        if data_field is not None:
            length, data_start = vector(data_field)
            found[name] = bytes(buf[data_start:data_start + length])
        elif field(table, 1) is not None:  # large models keep buffers after the flatbuffer
            offset = struct.unpack_from("<Q", buf, field(table, 1))[0]
            size = struct.unpack_from("<Q", buf, field(table, 2))[0]
            found[name] = bytes(buf[offset:offset + size])
    return found


class EdgeSampler:
    """Runs an exported sampler with numpy in, numpy out.

    Args:
      path: str. A `.tflite` file written by `export.tflite`.
      num_threads: int. Interpreter threads. Defaults to 1.

    Attributes:
      path: str. The `.tflite` file.
      metadata: dict. What the exporter recorded (noise_dim, shapes, quantization, parity).
      noise_dim, latent_shape, output_shape, quantization: from `metadata`.
      num_classes: int or None. A conditional sampler's number of classes: `sample`,
        `sample_from_noise` and `decode` then take `labels`.
      class_names: tuple of str or None. Names `labels` may use instead of ids.

    Raises:
      ValueError: the file is missing, not a TFLite model, has no vaezoo metadata, the
        interpreter cannot load it, or the file's int8 plan has dynamic-range ops and the
        interpreter is the legacy tflite-runtime (which computes them wrongly).
      ImportError: no TFLite interpreter is installed.
    """

    def __init__(self, path, num_threads=1):
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"path must be a path to a .tflite file. Received: path={path!r}")
        if isinstance(num_threads, bool) or not isinstance(num_threads, numbers.Integral) \
                or num_threads < 1:
            raise ValueError(f"num_threads must be a positive integer. Received: num_threads={num_threads!r}")
        path = os.fspath(path)
        if not os.path.isfile(path):
            raise ValueError(f"No such .tflite file. Received: path={path!r}")
        with open(path, "rb") as f:
            content = f.read()
        if len(content) < 8 or content[4:8] != b"TFL3":
            raise ValueError(f"Not a TFLite model (no TFL3 identifier). Received: path={path!r}")
        try:
            raw = read_tflite_metadata(content).get(METADATA_NAME)
        except (struct.error, IndexError) as err:
            raise ValueError(f"Corrupt TFLite file: {err}. Received: path={path!r}") from None
        if raw is None:
            raise ValueError(f"{path} has no vaezoo metadata; export it with export.tflite.")
        self.path = path
        self.metadata = json.loads(raw.decode("utf-8"))
        self.noise_dim = int(self.metadata["noise_dim"])
        self.latent_shape = tuple(self.metadata["latent_shape"])
        self.output_shape = tuple(self.metadata["output_shape"])
        self.quantization = self.metadata["quantization"]
        self.num_classes = self.metadata.get("num_classes")
        names = self.metadata.get("class_names")
        self.class_names = tuple(names) if names else None
        interpreter_class = _interpreter_class()
        dynamic = [entry["scope"] for entry in self.metadata.get("plan") or []
                   if entry.get("mode") == "dynamic"]
        if dynamic and interpreter_class.__module__.startswith("tflite_runtime"):
            # Measured: tflite-runtime 2.14 runs the AI Edge quantizer's dynamic-range ops
            # but computes them wrongly (mean error 0.1-0.3 on the presets), silently.
            raise ValueError(
                f"{path} keeps some ops in dynamic-range int8 (plan scopes {dynamic}), which "
                "the legacy tflite-runtime computes wrongly: install ai-edge-litert, or export "
                "with a plan without 'dynamic' entries.")
        try:
            self._interpreter = interpreter_class(model_content=content, num_threads=int(num_threads))
            self._runners = {name: self._interpreter.get_signature_runner(name)
                             for name in ("sample_from_noise", "decode")}
        except (ValueError, RuntimeError) as err:
            raise ValueError(f"The interpreter cannot load {path}: {err}") from None
        self._io = {name: (runner.get_input_details(), runner.get_output_details())
                    for name, runner in self._runners.items()}

    @classmethod
    def from_preset(cls, name, num_threads=1):
        """The packaged int8 sampler of a built-in preset (see `list_presets`).

        Args:
          name: str. A preset name, e.g. "vae_mnist".
          num_threads: int. Interpreter threads. Defaults to 1.

        Returns:
          An `EdgeSampler`.

        Raises:
          ValueError: `name` is not a packaged preset (the message lists them).
        """
        available = list_presets()
        if name not in available:
            raise ValueError(f"name must be one of the packaged presets {available}. "
                             f"Received: name={name!r}")
        with resources.as_file(resources.files(__package__) / "presets" / f"{name}.tflite") as path:
            return cls(str(path), num_threads=num_threads)

    def _check(self, name, values, shape):
        if isinstance(values, (str, bytes)):
            raise TypeError(f"{name} must be a numeric array. Received: {name}={values!r}")
        values = np.asarray(values)
        if values.dtype.kind not in "biuf":
            raise TypeError(f"{name} must be a numeric array. Received: {name} with dtype {values.dtype}")
        if values.ndim != 1 + len(shape) or tuple(values.shape[1:]) != tuple(shape):
            hint = f" Add a batch axis, e.g. {name}[None]." if tuple(values.shape) == tuple(shape) else ""
            raise ValueError(f"{name} must have shape [batch, {', '.join(map(str, shape))}]. "
                             f"Received: {name}.shape={list(values.shape)}.{hint}")
        if values.shape[0] == 0:
            raise ValueError(f"{name} must contain at least one row. Received: {name}.shape={list(values.shape)}")
        values = values.astype(np.float32)
        if not np.all(np.isfinite(values)):
            raise ValueError(f"{name} must be finite. Received: {name} with NaN/inf values")
        return values

    def _labels(self, labels, n, seed=None, draw=False):
        """`labels` as int32 class ids `[n]` (None for an unconditional sampler), or a
        `ValueError`/`TypeError` naming `labels`. With `draw` and no labels, ids drawn at
        the class frequencies the model saw in training (from the metadata)."""
        if not self.num_classes:
            if labels is not None:
                raise ValueError("labels are for conditional samplers; this one is "
                                 f"unconditional. Received: labels={labels!r}"[:300])
            return None
        if labels is None:
            if not draw:
                raise ValueError(f"This sampler is conditional (num_classes={self.num_classes}): "
                                 "pass labels, one class id per row. Received: labels=None")
            return labels_module.draw(self.metadata.get("class_frequencies")
                                      or [1.0] * self.num_classes, n, seed)
        return labels_module.check_labels(labels, n, self.num_classes, self.class_names)

    @property
    def batch_size(self):
        """The fixed batch the file was exported with (`export.tflite(...,
        batch_size=...)`, for runtimes without a dynamic batch), or None. Any number of
        rows works either way: a fixed-batch file is run on padded chunks."""
        return self.metadata.get("batch_size")

    def _run(self, signature, input_name, output_name, values, labels=None):
        fixed = self.batch_size
        if fixed and len(values) != fixed:
            # Chunks of the exported batch, the last padded with copies of its first
            # row (valid noise and a valid class) and cut after the call.
            parts = []
            for start in range(0, len(values), fixed):
                chunk = values[start:start + fixed]
                pad = fixed - len(chunk)
                feed_labels = None if labels is None else labels[start:start + fixed]
                if pad:
                    chunk = np.concatenate([chunk, np.repeat(chunk[:1], pad, axis=0)])
                    if feed_labels is not None:
                        feed_labels = np.concatenate([feed_labels, np.repeat(feed_labels[:1], pad)])
                parts.append(self._run_once(signature, input_name, output_name, chunk,
                                            feed_labels)[:fixed - pad])
            return np.concatenate(parts)
        return self._run_once(signature, input_name, output_name, values, labels)

    def _run_once(self, signature, input_name, output_name, values, labels=None):
        inputs, outputs = self._io[signature]
        spec = inputs[input_name]
        if spec["dtype"] == np.int8:  # int8 I/O: quantize with the file's own parameters
            scale, zero = spec["quantization"]
            values = np.clip(np.round(values / scale + zero), -128, 127).astype(np.int8)
        feed = {input_name: values}
        if labels is not None:
            feed["labels"] = labels
        result = self._runners[signature](**feed)[output_name]
        out_spec = outputs[output_name]
        if out_spec["dtype"] == np.int8:
            scale, zero = out_spec["quantization"]
            result = (result.astype(np.float32) - zero) * scale
        return np.asarray(result, dtype=np.float32)

    def _as(self, values, dtype):
        """`values` as float32 (as computed) or as 8-bit images (`dtype="uint8"`)."""
        if dtype in ("float32", np.float32):
            return values
        if dtype not in ("uint8", np.uint8):
            raise ValueError(f"dtype must be 'float32' or 'uint8'. Received: dtype={dtype!r}")
        if len(self.output_shape) != 3:
            raise ValueError("dtype='uint8' gives 8-bit images [n, height, width, channels]; "
                             f"this sampler's outputs have shape {list(self.output_shape)}. "
                             "Received: dtype='uint8'")
        # Pixels in [0, 1] to the 256 levels: what PIL's Image.fromarray saves as PNG.
        return np.round(np.clip(values, 0.0, 1.0) * 255.0).astype(np.uint8)

    def sample_from_noise(self, eps, labels=None, dtype="float32"):
        """Samples (decoder means) for standard-normal noise.

        Args:
          eps: numeric array `[n, noise_dim]`, finite.
          labels: a conditional sampler's class ids (or names), one per row, or one id
            for all rows. Refused by an unconditional sampler.
          dtype: "float32" or "uint8" (images only: 8-bit pixels, `[n, height, width,
            channels]`, ready for `PIL.Image.fromarray` after dropping a grey image's
            channel axis). Defaults to "float32".

        Returns:
          numpy float32 `[n, *output_shape]`, in the units of the training data (pixels
            in [0, 1] for images); numpy uint8 with `dtype="uint8"`.
        """
        eps = self._check("eps", eps, (self.noise_dim,))
        return self._as(self._run("sample_from_noise", "noise", "samples", eps,
                                  self._labels(labels, len(eps))), dtype)

    def sample(self, num_samples, seed=None, temperature=1.0, labels=None, dtype="float32"):
        """Draws `num_samples` samples from noise made with numpy (`default_rng(seed)`).

        Args:
          num_samples: int. Number of samples, at least 1.
          seed: int or None. Seed of the noise; None for fresh noise. Defaults to None.
          temperature: float >= 0. Scale of the noise (0 decodes the zero noise vector).
            Defaults to 1.0.
          labels: a conditional sampler's class ids or names (one per sample, or one for
            all). None draws classes at the frequencies seen in training, after the
            noise, from the same generator.
          dtype: "float32" or "uint8", as in `sample_from_noise`.

        Returns:
          numpy `[num_samples, *output_shape]`, as `sample_from_noise`.
        """
        if isinstance(num_samples, bool) or not isinstance(num_samples, numbers.Integral) \
                or num_samples < 1:
            raise ValueError(f"num_samples must be a positive integer. Received: num_samples={num_samples!r}")
        if not isinstance(temperature, numbers.Real) or not np.isfinite(temperature) or temperature < 0:
            raise ValueError(f"temperature must be a finite number >= 0. Received: temperature={temperature!r}")
        rng = np.random.default_rng(seed)
        eps = rng.standard_normal((int(num_samples), self.noise_dim), dtype=np.float32)
        ids = self._labels(labels, int(num_samples), seed=rng, draw=True)
        return self.sample_from_noise(eps * np.float32(temperature), labels=ids, dtype=dtype)

    def decode(self, z, labels=None, dtype="float32"):
        """Means of p(x|z) (p(x|z, y)) for latent codes.

        Args:
          z: numeric array `[n, *latent_shape]`, finite.
          labels: a conditional sampler's class ids or names, as in `sample_from_noise`.
          dtype: "float32" or "uint8", as in `sample_from_noise`.

        Returns:
          numpy `[n, *output_shape]`, float32 or uint8.
        """
        z = self._check("z", z, self.latent_shape)
        return self._as(self._run("decode", "z", "mean", z, self._labels(labels, len(z))), dtype)


def list_presets():
    """Names of the presets whose int8 samplers ship with this package, sorted."""
    folder = resources.files(__package__) / "presets"
    return sorted(entry.name[:-len(".tflite")] for entry in folder.iterdir()
                  if entry.name.endswith(".tflite"))
