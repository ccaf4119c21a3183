"""Datasets as batched, prefetched `tf.data` pipelines.

Sources, in the order `load` tries them:
  1. Local files: a folder of photos in class subfolders (JPEG, PNG; see
     `zoo.image_folders`), decoded in parallel as the pipeline runs; a folder of the
     original IDX `.gz` files (MNIST, Fashion-MNIST), a `.npz` file, or numpy arrays. The folder comes from the `data_dir` argument or the
     `VAEZOO_DATA_DIR` environment variable, which may hold one sub-folder per dataset
     (`$VAEZOO_DATA_DIR/mnist/train-images-idx3-ubyte.gz`) or be the dataset folder itself.
  2. TensorFlow Datasets by name (`mnist`, `fashion_mnist`, `binarized_mnist`, `cifar10`,
     ...), which downloads on first use. Offline, a short probe of the download host
     turns what would be minutes of retries into an immediate, actionable error.

Images come out as float32 in [0, 1] with a channel axis, `[batch, height, width,
channels]`. Binarization for binary-likelihood models:
  - "dynamic": a fresh x ~ Bernoulli(pixel) every epoch (the standard MNIST protocol
    for training, which also regularises);
  - "static": one fixed draw per example, keyed by (seed, example index), so a test set
    is binarized identically whatever the batch size or order.
"""

import difflib
import gzip
import os
import re
import socket
import struct
import warnings

import numpy as np
import tensorflow as tf

from zoo import image_folders, io_utils, validation

ENV_VAR = "VAEZOO_DATA_DIR"
BINARIZATIONS = (None, "dynamic", "static")

_IDX_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
# SHA-256 of the official distribution files; a copy that differs is refused.
_SHA256 = {
    "mnist": {
        "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    },
    "fashion_mnist": {
        "train-images-idx3-ubyte.gz": "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
        "train-labels-idx1-ubyte.gz": "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
        "t10k-images-idx3-ubyte.gz": "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
        "t10k-labels-idx1-ubyte.gz": "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
    },
}
# TFDS datasets whose images are already {0, 1} rather than {0, ..., 255}.
_TFDS_PIXEL_MAX = {"binarized_mnist": 1.0}
# Class names of the labelled datasets known by name, in label order (TFDS's names), so a
# conditional model trained on them takes labels by name.
CLASS_NAMES = {
    "mnist": tuple(str(d) for d in range(10)),
    "fashion_mnist": ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                      "Sneaker", "Bag", "Ankle boot"),
}
# TFDS names whose images are commonly at hand as a folder of photos in class subfolders.
_FOLDER_COPIES = {"cifar10": "cifar10_jpeg"}
_TFDS_HOST = ("storage.googleapis.com", 443)
_SPLIT = re.compile(r"^(?P<name>[a-z_]+)(?:\[(?P<start>-?\d+%?)?:(?P<stop>-?\d+%?)?\])?$")


# ----------------------------------------------------------------------------- files
def _read_idx(path, expected_magic):
    """Reads a gzip-compressed IDX file into a uint8 array, checking its header."""
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as err:
        raise ValueError(f"Cannot read IDX file {path}: {err}. Is it truncated?") from err
    if len(raw) < 8:
        raise ValueError(f"{path} is not an IDX file: only {len(raw)} bytes")
    magic = struct.unpack(">I", raw[:4])[0]
    if magic != expected_magic:
        raise ValueError(f"{path} is not an IDX file of the expected kind: magic {magic:#010x}, "
                         f"expected {expected_magic:#010x}")
    ndim = magic & 0xFF
    dims = struct.unpack(f">{ndim}I", raw[4:4 + 4 * ndim])
    body = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(dims)):
        raise ValueError(f"{path} is truncated: header says {dims}, found {body.size} values")
    return body.reshape(dims)


def _idx_dir(name, root):
    """The folder under `root` holding `name`'s IDX files, or None."""
    if root is None:
        return None
    for folder in (os.path.join(root, name), root):
        if os.path.isfile(os.path.join(folder, _IDX_FILES["train"][0])):
            return folder
    return None


def _read_idx_split(folder, split, dataset_name=None):
    image_file, label_file = _IDX_FILES[split]
    known = _SHA256.get(dataset_name, {})
    arrays = []
    for filename, magic in ((image_file, 0x00000803), (label_file, 0x00000801)):
        path = os.path.join(folder, filename)
        if not os.path.isfile(path):
            raise ValueError(f"data_dir is missing {filename}. Received: data_dir={folder!r}")
        if filename in known and io_utils.sha256(path) != known[filename]:
            raise ValueError(
                f"{path} does not match the official {dataset_name} file (SHA-256 differs); "
                "it is corrupt or a different dataset.")
        arrays.append(_read_idx(path, magic))
    images, labels = arrays
    if len(images) != len(labels):
        raise ValueError(f"{folder}: {len(images)} images but {len(labels)} labels")
    return images[..., None], labels.astype(np.int64)  # add the channel axis


def _read_npz(path, split):
    try:
        with np.load(path, allow_pickle=False) as f:
            files = dict(f)
    except (OSError, ValueError) as err:
        raise ValueError(f"Cannot read {path} as a .npz file: {err}") from err
    for x_key, y_key in ((f"x_{split}", f"y_{split}"), (split, None)):
        if x_key in files:
            return files[x_key], files.get(y_key) if y_key else None
    if "x" in files:
        if split != "train":
            # One array is one split: handing it out as "test" would score a model on the
            # very rows it was trained on.
            raise ValueError(
                f"{path} holds one array 'x' and no {split!r} split. Hold rows out explicitly, "
                f"e.g. split='train[:90%]' to train and split='train[90%:]' to evaluate "
                f"(--split on the command line). Received: split={split!r}")
        return files["x"], files.get("y")
    raise ValueError(
        f"{path} has no arrays for split {split!r}: expected 'x_{split}' (and 'y_{split}') "
        f"or 'x' (and 'y'). Found: {sorted(files)}")


def _slice(split, n):
    """Parses `train[10:20]` / `test[:50%]` into (base split, slice)."""
    match = _SPLIT.match(split) if isinstance(split, str) else None
    if not match:
        raise ValueError(f"split must look like 'train', 'test[:1000]' or 'train[90%:]'. "
                         f"Received: split={split!r}")

    def index(text, default):
        if text is None:
            return default
        if text.endswith("%"):
            return int(round(int(text[:-1]) * n / 100))
        return int(text)

    return match["name"], slice(index(match["start"], 0), index(match["stop"], n))


def _base_split(split):
    return _slice(split, 0)[0]


def _local_arrays(name, split, data_dir):
    """Returns (images, labels) from local files, or None if none are found."""
    base = _base_split(split)
    if isinstance(name, (str, os.PathLike)) and str(name).endswith(".npz"):
        if not os.path.isfile(name):
            raise ValueError(f"No such .npz file. Received: name={str(name)!r}")
        images, labels = _read_npz(name, base)
    else:
        roots = [data_dir, os.environ.get(ENV_VAR)]
        if os.path.isdir(str(name)):
            roots = [str(name)]
        folder = next((f for f in (_idx_dir(str(name), r) for r in roots) if f), None)
        if folder is None:
            return None
        if base not in _IDX_FILES:
            raise ValueError(f"IDX folders have 'train' and 'test' splits. Received: split={split!r}")
        images, labels = _read_idx_split(folder, base, dataset_name=str(name))
    _, part = _slice(split, len(images))
    return images[part], (labels[part] if labels is not None else None)


def _image_folder(name, data_dir):
    """The image folder `name` names (a path, or a sub-folder of `data_dir` /
    `$VAEZOO_DATA_DIR`), or None."""
    if not isinstance(name, (str, os.PathLike)):
        return None
    candidates = [str(name)] + [os.path.join(root, str(name))
                                for root in (data_dir, os.environ.get(ENV_VAR)) if root]
    return next((c for c in candidates if image_folders.is_image_folder(c)), None)


def _folder_index(folder, split, color_mode, on_error):
    """The `image_folders.Index` of `split` (a slice allowed) of `folder`."""
    base = _base_split(split)
    idx = image_folders.index(folder, base, color_mode=color_mode, on_error=on_error)
    _, part = _slice(split, len(idx.paths))
    return idx._replace(paths=idx.paths[part], labels=idx.labels[part])


# ----------------------------------------------------------------------------- TFDS
def _network_available(timeout=3.0):
    try:
        with socket.create_connection(_TFDS_HOST, timeout=timeout):
            return True
    except OSError:
        return False


def _offline_message(name, data_dir):
    hint = f"set {ENV_VAR} (or data_dir=) to a folder holding the dataset's files"
    if name in _SHA256:
        hint = (f"set {ENV_VAR} (or data_dir=) to a folder containing {name}/"
                f"{_IDX_FILES['train'][0]} and the other original IDX .gz files, "
                f"e.g. {ENV_VAR}=../shared/data")
    if name in _FOLDER_COPIES:
        hint = (f"pass a folder of its images in class subfolders instead, e.g. "
                f"zoo.data.load({_FOLDER_COPIES[name]!r}) with {ENV_VAR}=../shared/data "
                f"(the folder's own path works too)")
    where = f" in data_dir={data_dir!r}" if data_dir else ""
    return (f"Dataset {name!r} was not found locally{where} and TFDS cannot download it "
            f"(no network). To work offline, {hint}.")


def _tfds_dataset(name, split, data_dir, shuffle_files):
    import tensorflow_datasets as tfds

    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except Exception:  # DatasetNotFoundError and friends; their text lists every dataset
        close = difflib.get_close_matches(name, tfds.list_builders(), n=3)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        raise ValueError(
            f"Unknown dataset: not a TFDS name, a folder of IDX files or a .npz file. "
            f"Received: name={name!r}.{hint}") from None
    if not builder.is_prepared() and not _network_available():
        raise ValueError(_offline_message(name, data_dir))
    return tfds.load(name, split=split, data_dir=data_dir, shuffle_files=shuffle_files)


# ----------------------------------------------------------------------------- pipelines
def _to_float_images(images, pixel_max):
    images = tf.cast(images, tf.float32)
    return images / pixel_max if pixel_max != 1.0 else images


def _binarize_batch(x, seed):
    return tf.cast(tf.random.stateless_uniform(tf.shape(x), seed=seed) < x, tf.float32)


def _check_binarizable(values, pixel_max, binarize):
    """Refuses binarization of values outside [0, 1] (after scaling by `pixel_max`):
    Bernoulli draws would silently turn them into ones."""
    if binarize and (np.nanmin(values) < 0 or np.nanmax(values) > pixel_max):
        raise ValueError(
            f"binarize needs pixel values in [0, 1]. Received: values in "
            f"[{values.min() / pixel_max:g}, {values.max() / pixel_max:g}]. For data that are "
            f"not images, pass binarize=None (--binarize none).")


def _pipeline(ds, *, batch_size, binarize, shuffle, seed, with_labels, drop_remainder,
              pixel_max, size, image_size=None, crop_to_aspect_ratio=False):
    """Batches `ds` of (index, image, label) into float images, binarized as asked."""
    if image_size is not None:
        if ds.element_spec[1].shape.rank != 3:
            raise ValueError(f"image_size resizes images [height, width, channels]. Received: "
                             f"examples of shape {ds.element_spec[1].shape}")
        ds = ds.map(lambda i, image, label: (i, image_folders.resize(
            image, image_size, crop_to_aspect_ratio, pixel_max), label),
            num_parallel_calls=tf.data.AUTOTUNE)
    image_shape = ds.element_spec[1].shape
    if binarize and image_shape.rank == 3 and image_shape[-1] not in (None, 1):
        warnings.warn(f"binarize={binarize!r} turns each of the {image_shape[-1]} colour channels "
                      "into random bits, which destroys colour images; binarize=None keeps the "
                      "8-bit levels (a discretized logistic likelihood models them)",
                      UserWarning, stacklevel=3)
    if shuffle:
        ds = ds.shuffle(min(size, 60_000), seed=seed, reshuffle_each_iteration=True)
    if binarize == "static":
        # Keyed by example index: the draw does not depend on order or batch size.
        def static(i, image, label):
            x = _to_float_images(image, pixel_max)
            key = tf.stack([tf.cast(seed, tf.int64), tf.cast(i, tf.int64)])
            return tf.cast(tf.random.stateless_uniform(tf.shape(x), seed=key) < x, tf.float32), label
        ds = ds.map(static, num_parallel_calls=tf.data.AUTOTUNE)
    else:
        ds = ds.map(lambda i, image, label: (_to_float_images(image, pixel_max), label),
                    num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    if binarize == "dynamic":
        # `rerandomize_each_iteration` gives every epoch (every new iterator) new seeds
        # while staying reproducible from `seed`; a stateful op in `map` would repeat.
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
        ds = tf.data.Dataset.zip(ds, seeds).map(
            lambda batch, s: (_binarize_batch(batch[0], s), batch[1]),
            num_parallel_calls=tf.data.AUTOTUNE)
    if not with_labels:
        ds = ds.map(lambda x, y: x)
    return ds.prefetch(tf.data.AUTOTUNE)


def _check_options(split, batch_size, binarize, seed):
    validation.positive_int("batch_size", batch_size)
    if binarize not in BINARIZATIONS:
        raise ValueError(f"binarize must be one of {BINARIZATIONS}. Received: binarize={binarize!r}")
    validation.non_negative_int("seed", seed)
    _slice(split, 0)


def check_labels(y, n):
    """Class labels `y` as int64 `[n]`: integer ids >= 0 (whole-valued floats are taken).

    Args:
      y: array-like of class ids, one per example.
      n: int. The number of examples `y` must label.

    Returns:
      numpy int64 `[n]`.

    Raises:
      TypeError: `y` is not numeric.
      ValueError: wrong shape, non-integer or negative values; the message names `y`
        and what was received.
    """
    if isinstance(y, (str, bytes)):
        raise TypeError(f"y must be an array of integer class ids. Received: y={y!r}")
    labels = np.asarray(y)
    if labels.dtype.kind not in "biuf":
        raise TypeError(f"y must hold integer class ids (0, 1, ...), not {labels.dtype} values; "
                        "map class names to ids first. Received: y with dtype "
                        f"{labels.dtype}, e.g. {labels.flat[0]!r}" if labels.size else
                        f"y must hold integer class ids. Received: y with dtype {labels.dtype}")
    if labels.ndim != 1 or len(labels) != n:
        raise ValueError(f"y must have one label per example of x ({n}). Received: "
                         f"y.shape={list(labels.shape)}")
    if labels.dtype.kind == "f":
        bad = ~np.isfinite(labels) | (labels != np.round(labels))
        if np.any(bad):
            raise ValueError(f"y must hold integer class ids. Received: value {labels[bad][0].item()!r}")
    if n and labels.min() < 0:
        raise ValueError(f"y must hold class ids >= 0. Received: value {labels.min().item()!r}")
    return labels.astype(np.int64)


def class_names(name, data_dir=None):
    """The class names of a dataset, in label order, or None: those of a dataset known by
    name (`CLASS_NAMES`), or a folder of photos' class folders."""
    folder = _image_folder(name, data_dir)
    if folder is not None:
        return image_folders.class_names(folder)
    return CLASS_NAMES.get(str(name).lower())


def from_arrays(x, y=None, *, batch_size=128, binarize=None, shuffle=False, seed=0,
                drop_remainder=False, allow_missing=False):
    """A pipeline over in-memory arrays.

    Args:
      x: array `[n, ...]`. uint8 arrays are 8-bit pixels, scaled from [0, 255] to [0, 1]
        (as every model method does with them); other numbers are used as they are
        (tabular features, images already in [0, 1]).
      y: optional array `[n]` of integer class ids; if given, the dataset yields `(x, y)`.
      batch_size, binarize, shuffle, seed, drop_remainder: as in `load`.
      allow_missing: bool. NaN marks missing entries (tabular models train on incomplete
        rows) rather than an error. Defaults to False.

    Returns:
      A batched, prefetched `tf.data.Dataset` of float32 `[batch, ...]` (`x`'s shape
        after the first axis), or of `(x, y)` with `y` int64 `[batch]` if `y` is given.

    Raises:
      TypeError: `x` is not numeric.
      ValueError: empty or non-finite `x`, bad labels or options.
    """
    _check_options("train", batch_size, binarize, seed)
    if isinstance(x, (str, bytes)):
        raise TypeError(f"x must be a numeric array. Received: x={x!r}")
    x = np.asarray(x)
    if x.dtype.kind not in "biuf":
        raise TypeError(f"x must be a numeric array. Received: x with dtype {x.dtype}. "
                        "Tables with text columns: zoo.data.load(table) or zoo.tables")
    if x.ndim < 2 or len(x) == 0:
        raise ValueError(f"x must be a non-empty array of shape [n, ...]. Received: x.shape={x.shape}")
    if x.dtype.kind == "f" and np.any(np.isinf(x) if allow_missing else ~np.isfinite(x)):
        raise ValueError("x must be finite. Received: x with NaN/inf values" + (
            "" if allow_missing else ". For rows with missing entries pass allow_missing=True "
            "(tabular models)"))
    pixel_max = 255.0 if x.dtype == np.uint8 else 1.0
    if x.dtype.kind in "biu" and x.dtype != np.uint8:
        x = x.astype(np.float32)
    _check_binarizable(x, pixel_max, binarize)
    labels = np.zeros(len(x), np.int64) if y is None else check_labels(y, len(x))
    ds = tf.data.Dataset.from_tensor_slices((np.arange(len(x)), x, labels))
    return _pipeline(ds, batch_size=batch_size, binarize=binarize, shuffle=shuffle, seed=seed,
                     with_labels=y is not None, drop_remainder=drop_remainder,
                     pixel_max=pixel_max, size=len(x))


def load(name, split="train", *, data_dir=None, batch_size=128, binarize=None, shuffle=None,
         seed=0, with_labels=False, drop_remainder=False, schema=None, image_size=None,
         crop_to_aspect_ratio=False, color_mode=None, on_error="raise"):
    """Returns a batched, prefetched `tf.data.Dataset` of images in [0, 1] (or table rows).

    Args:
      name: str. A TFDS name ("mnist", "fashion_mnist", "binarized_mnist", "cifar10",
        ...), a folder of photos (`train/<class>/*.jpg`, `<class>/*.png`, ...: see
        `zoo.image_folders`; labels are the class folders' names), a folder of IDX files, a `.npz` file (keys `x_train`/`y_train`/..., the
        `keras.datasets` layout, or `x`/`y`, which is one "train" split), or a table: a
        `.csv` / `.parquet` file or a pandas DataFrame, whose rows come out encoded by
        `schema` (categories as codes, missing cells as NaN). For arrays use `from_arrays`.
      split: str. "train", "test", or a slice such as "train[:55000]" / "test[:10%]".
        Defaults to "train".
      data_dir: str. Folder with local files (see the module docstring); also passed to
        TFDS as its data directory. Defaults to `$VAEZOO_DATA_DIR`.
      batch_size: int. Defaults to 128.
      binarize: None, "dynamic" or "static". Defaults to None (grey levels).
      shuffle: bool. Defaults to True for training splits, False otherwise.
      seed: int. Seed of shuffling and binarization. Defaults to 0.
      with_labels: bool. Yield `(x, label)` instead of `x`. Defaults to False.
      drop_remainder: bool. Drop the last incomplete batch. Defaults to False.
      schema: `zoo.tables.TableSchema` for a table: pass the model's
        (`model.likelihood.schema`) to score or evaluate it. Defaults to one inferred from
        the selected rows, for training.
      image_size: int or `(height, width)`. Resize every image (bilinear with
        antialiasing, rounded back to 8-bit levels); needed for a folder of photos of
        different sizes. Defaults to None (the images' own size).
      crop_to_aspect_ratio: bool. With `image_size`, centre-crop to its aspect ratio
        instead of stretching. Defaults to False.
      color_mode: None, "grayscale" or "rgb" (folders of photos). Convert every image;
        None keeps their channels and refuses a folder that mixes grey and colour.
      on_error: "raise" or "skip" (folders of photos). A file that is no readable image
        is an error naming it, or is left out with a warning. Defaults to "raise".

    Returns:
      A `tf.data.Dataset` of float32 batches: images `[batch, height, width, channels]`
        with pixels in [0, 1] ({0, 1} when binarized), or table rows `[batch, columns]`;
        with `with_labels`, of `(x, label)` pairs with int64 labels `[batch]`.

    Raises:
      ValueError: unknown name or split, bad options, missing or corrupt files, empty
        selection, or no local copy while offline (the message says how to provide one).
    """
    from zoo import tables

    if tables.is_table(name) or tables.is_table_path(name):
        return _load_table(name, split, batch_size=batch_size, binarize=binarize, shuffle=shuffle,
                           seed=seed, with_labels=with_labels, drop_remainder=drop_remainder,
                           schema=schema)
    if not isinstance(name, (str, os.PathLike)):
        raise TypeError(f"name must be a dataset name or a path; use zoo.data.from_arrays for "
                        f"arrays. Received: name={type(name).__name__}")
    if schema is not None:
        raise ValueError(f"schema is for tables (.csv, .parquet, DataFrame). Received: name={str(name)!r}")
    _check_options(split, batch_size, binarize, seed)
    if data_dir is not None and not os.path.isdir(data_dir):
        raise ValueError(f"data_dir does not exist. Received: data_dir={data_dir!r}")
    image_size = image_folders.check_image_size(image_size)
    validation.boolean("crop_to_aspect_ratio", crop_to_aspect_ratio)
    if shuffle is None:
        shuffle = _base_split(split) == "train"
    folder = _image_folder(name, data_dir)
    if folder is None and (color_mode is not None or on_error != "raise"):
        raise ValueError(f"color_mode and on_error are for folders of photos. Received: "
                         f"name={str(name)!r}, color_mode={color_mode!r}, on_error={on_error!r}")
    local = None if folder else _local_arrays(name, split, data_dir)
    if folder is not None:
        idx = _folder_index(folder, split, color_mode, on_error)
        if len(idx.paths) == 0:
            raise ValueError(f"split {split!r} selects no examples of {str(name)!r}")
        if with_labels and idx.class_names is None:
            raise ValueError(f"with_labels needs class folders (<folder>/<class>/*.jpg); "
                             f"{folder} holds images without them. Received: with_labels=True")
        # The files are shuffled before decoding, all of them; decoded images are not.
        ds = image_folders.dataset(idx, image_size=image_size, shuffle=shuffle, seed=seed,
                                   crop_to_aspect_ratio=crop_to_aspect_ratio)
        image_size, shuffle, size, pixel_max = None, False, len(idx.paths), 255.0
    elif local is not None:
        images, labels = local
        if len(images) == 0:
            raise ValueError(f"split {split!r} selects no examples of {name!r}")
        ds = tf.data.Dataset.from_tensor_slices(
            (np.arange(len(images)), images,
             labels if labels is not None else np.zeros(len(images), np.int64)))
        pixel_max = 255.0 if images.dtype.kind in "iu" else 1.0
        _check_binarizable(images, pixel_max, binarize)
        size = len(images)
    else:
        if os.path.sep in str(name) or str(name).startswith("."):
            raise ValueError(f"No images, IDX or .npz data found at this path. Received: name={str(name)!r}")
        tfds_dir = data_dir or os.environ.get(ENV_VAR)
        ds = _tfds_dataset(str(name), split, tfds_dir, shuffle_files=shuffle)
        ds = ds.map(lambda ex: (ex["image"], ex.get("label", tf.constant(0, tf.int64))))
        ds = ds.enumerate().map(lambda i, ex: (i, ex[0], tf.cast(ex[1], tf.int64)))
        size = int(ds.cardinality())
        if size == 0:
            raise ValueError(f"split {split!r} selects no examples of {name!r}")
        size = size if size > 0 else 10_000
        pixel_max = _TFDS_PIXEL_MAX.get(str(name), 255.0)
    return _pipeline(ds, batch_size=batch_size, binarize=binarize, shuffle=shuffle, seed=seed,
                     with_labels=with_labels, drop_remainder=drop_remainder,
                     pixel_max=pixel_max, size=size, image_size=image_size,
                     crop_to_aspect_ratio=crop_to_aspect_ratio)


#: The likelihood that fits each kind of data (`data_kind`), as `vaezoo train` picks it.
DEFAULT_LIKELIHOODS = {"binary": "bernoulli", "8bit": "discretized_logistic",
                       "unit_interval": "gaussian", "real": "gaussian", "table": "tabular"}


def data_kind(values):
    """What numbers `values` hold, ignoring NaN and infinities.

    Args:
      values: array-like of numbers.

    Returns:
      str. "binary" ({0, 1}), "8bit" (uint8, or floats on the 256 levels k/255),
        "unit_interval" (other values in [0, 1]) or "real" (anything else, or no finite
        values); a key of `DEFAULT_LIKELIHOODS`.
    """
    values = np.asarray(values)
    if values.dtype == np.uint8:
        return "8bit"
    values = values[np.isfinite(values)] if values.dtype.kind == "f" else values
    if values.size == 0:
        return "real"
    if np.all((values == 0) | (values == 1)):
        return "binary"
    if values.min() < 0 or values.max() > 1:
        return "real"
    levels = values.astype(np.float64) * 255.0
    return "8bit" if np.allclose(levels, np.round(levels), atol=1e-3) else "unit_interval"


def inspect(name, split="train", *, data_dir=None, color_mode=None, on_error="raise"):
    """What kind of data a dataset holds, from its files (local data) or what TFDS
    names hold (8-bit images, except `binarized_mnist`), without a pipeline.

    Args:
      name, split, data_dir, color_mode, on_error: as in `load`.

    Returns:
      dict. `{"kind": str, "channels": int or None}`: `kind` is a `data_kind` (of the
        first 10,000 local examples) or "table"; `channels` is the image channel count,
        None for tables and vectors, and for TFDS names other than the colour ones.
    """
    from zoo import tables

    if tables.is_table(name) or tables.is_table_path(name):
        return {"kind": "table", "channels": None}
    folder = _image_folder(name, data_dir)
    if folder is not None:
        idx = _folder_index(folder, split, color_mode, on_error)
        return {"kind": "8bit", "channels": idx.channels}
    local = _local_arrays(name, split, data_dir) if isinstance(name, (str, os.PathLike)) else None
    if local is None:
        kind = "binary" if str(name) in _TFDS_PIXEL_MAX else "8bit"
        return {"kind": kind, "channels": 3 if str(name) in ("cifar10", "cifar100", "svhn_cropped") else None}
    images = local[0]
    return {"kind": data_kind(images[:10_000]),
            "channels": int(images.shape[-1]) if images.ndim == 4 else (1 if images.ndim == 3 else None)}


def table_split(table, split="train"):
    """The rows of a table (DataFrame or file) that `split` selects, as a DataFrame.

    A table is one split, "train"; hold rows out with slices ("train[:80%]" to train,
    "train[80%:]" to evaluate).

    Args:
      table: a pandas DataFrame or a `.csv` / `.parquet` path.
      split: str. "train" or a slice of it. Defaults to "train".

    Returns:
      A pandas DataFrame, the selected rows with their original index.

    Raises:
      ValueError: a split other than "train", or one that selects no rows.
    """
    from zoo import tables

    table = tables.read_table(table)
    base, part = _slice(split, len(table))
    if base != "train":
        raise ValueError(
            "A table is one split, 'train': hold rows out with slices, e.g. split='train[:80%]' "
            f"to train and split='train[80%:]' to evaluate. Received: split={split!r}")
    table = table.iloc[part]
    if len(table) == 0:
        raise ValueError(f"split {split!r} selects no rows of the table")
    return table


def read_table_split(table, split="train", schema=None):
    """A table's `split` (see `table_split`), encoded as numbers.

    Args:
      table: a pandas DataFrame or a `.csv` / `.parquet` path.
      split: str. "train" or a slice of it. Defaults to "train".
      schema: `zoo.tables.TableSchema`. Defaults to one inferred from the selected rows.

    Returns:
      numpy float32 `[n, D]`, NaN for missing cells (see `TableSchema.encode`).
    """
    from zoo import tables

    table = table_split(table, split)
    return (schema if schema is not None else tables.TableSchema.infer(table)).encode(table)


def _load_table(table, split, *, batch_size, binarize, shuffle, seed, with_labels,
                drop_remainder, schema):
    if binarize is not None:
        raise ValueError(f"binarize is for images, not tables. Received: binarize={binarize!r}")
    if with_labels:
        raise ValueError("with_labels is not available for tables: a label is one of the columns")
    _check_options(split, batch_size, binarize, seed)
    rows = read_table_split(table, split, schema)
    if shuffle is None:
        shuffle = True  # a table is a training split
    return from_arrays(rows, batch_size=batch_size, shuffle=shuffle, seed=seed,
                       drop_remainder=drop_remainder, allow_missing=True)


def load_numpy(name, split="test", *, data_dir=None, binarize=None, seed=0, **image_options):
    """The whole split as numpy, unshuffled.

    Args:
      name, split, data_dir, binarize, seed: as in `load`; `split` defaults to "test".
      **image_options: `image_size`, `crop_to_aspect_ratio`, `color_mode`, `on_error`, as
        in `load`.

    Returns:
      A tuple `(x, labels)`: `x` numpy float32 `[n, height, width, channels]` with
        pixels in [0, 1], `labels` numpy int64 `[n]`.
    """
    ds = load(name, split, data_dir=data_dir, batch_size=4096, binarize=binarize,
              shuffle=False, seed=seed, with_labels=True, **image_options)
    xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in ds])
    return np.concatenate(xs), np.concatenate(ys)
