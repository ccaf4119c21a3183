"""Folders of photos as datasets: class subfolders of JPEG / PNG / BMP / GIF files.

Layouts understood (the one `keras.utils.image_dataset_from_directory` and most photo
collections have):

    photos/train/<class>/*.jpg     photos/test/<class>/*.jpg      (splits "train", "test")
    photos/<class>/*.jpg                                          (one split, "train")
    photos/*.jpg                                                  (one split, no labels)

Labels are the class folders' names, sorted, as ids 0, 1, ... . Files are indexed once,
their headers read (format, size, colour mode) without decoding the pixels, so a folder
with grey and colour images, images of different sizes, or a file that is no image is
refused before training starts, naming the file. The pixels are decoded while the
`tf.data` pipeline runs, in parallel, never all held in memory.

The files of a split are put in a fixed pseudo-random order (the same on every machine),
so a slice such as "train[:90%]" holds every class, not the first classes in name order.
"""

import collections
import os
import warnings

import numpy as np
import tensorflow as tf

from zoo import validation

#: File extensions read as images (what `tf.io.decode_image` decodes).
EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif")
#: How images with different channel counts are made alike.
COLOR_MODES = (None, "grayscale", "rgb")
#: What to do with a file that is not a readable image.
ON_ERROR = ("raise", "skip")
SPLITS = ("train", "test", "validation")

# PIL modes by the channels `tf.io.decode_image(channels=0)` gives them.
_CHANNELS = {"1": 1, "L": 1, "I": 1, "I;16": 1, "F": 1, "LA": 2, "RGB": 3, "YCbCr": 3,
             "CMYK": 3, "RGBA": 4}
_ORDER_SEED = 20_170_101  # the fixed file order; changing it changes every folder's slices

Index = collections.namedtuple("Index", "paths labels class_names channels size")
Index.__doc__ = """A split of an image folder.

paths: list of str, the readable image files in the fixed order.
labels: numpy int64 `[n]`, class ids (zeros without class folders).
class_names: tuple of str (the class folders, in id order), or None.
channels: int, the channels every image is decoded to.
size: `(height, width)` shared by every image, or None if sizes differ.
"""


def _images_in(folder):
    return sorted(e.name for e in os.scandir(folder)
                  if e.is_file() and e.name.lower().endswith(EXTENSIONS))


def _subfolders(folder):
    return sorted(e.name for e in os.scandir(folder) if e.is_dir() and not e.name.startswith("."))


def _has_images(folder, depth=1):
    """Whether `folder` holds images directly or in subfolders up to `depth` levels down."""
    if _images_in(folder):
        return True
    return depth > 0 and any(_has_images(os.path.join(folder, s), depth - 1)
                             for s in _subfolders(folder))


def is_image_folder(path):
    """Whether `path` is a folder in one of the module's layouts (images within two levels)."""
    return isinstance(path, (str, os.PathLike)) and os.path.isdir(path) and _has_images(path, 2)


def split_folders(root):
    """`{split: folder}` of an image folder: its `train`/`test`/`validation` subfolders if
    it has them, else the folder itself as "train"."""
    named = {s: os.path.join(root, s) for s in SPLITS if os.path.isdir(os.path.join(root, s))}
    return named or {"train": str(root)}


def _classes(folder):
    """(class names, {name: files}) of a split folder; (None, {"": files}) without classes."""
    classes = [c for c in _subfolders(folder) if _images_in(os.path.join(folder, c))]
    if not classes:
        return None, {"": _images_in(folder)}
    loose = _images_in(folder)
    if loose:
        warnings.warn(f"{folder} holds class folders and {len(loose)} images outside them "
                      f"(e.g. {loose[0]}); those images are not used", UserWarning, stacklevel=4)
    return tuple(classes), {c: _images_in(os.path.join(folder, c)) for c in classes}


def class_names(root):
    """The class folders' names of an image folder (its first split), or None."""
    return _classes(next(iter(split_folders(root).values())))[0]


def _header(path):
    """(channels, (height, width)) from a file's header, or raises ValueError naming it."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            mode, (width, height) = image.mode, image.size
            transparent = "transparency" in image.info
    except (UnidentifiedImageError, OSError, SyntaxError) as error:
        raise ValueError(f"{path} is not a readable image ({error})") from None
    if mode == "P":  # palette images decode to RGB, or RGBA with a transparent colour
        return (4 if transparent else 3), (height, width)
    return _CHANNELS.get(mode, 3), (height, width)


_CACHE = {}


def _stamp(folder):
    """Changes when files are added to, removed from or renamed in `folder`'s tree."""
    return tuple(os.stat(os.path.join(folder, d)).st_mtime_ns for d in ["", *_subfolders(folder)])


def index(root, split="train", *, color_mode=None, on_error="raise"):
    """Indexes one split of an image folder, checking every file's header.

    Args:
      root: path of the folder (see the module docstring for its layouts).
      split: str. "train", "test" or "validation" where the folder has those subfolders;
        a folder without them is one split, "train". Defaults to "train".
      color_mode: None, "grayscale" or "rgb". None keeps the images' own channels and
        refuses a folder whose images differ in them; the others convert every image.
        Defaults to None.
      on_error: "raise" or "skip". What to do with a file that is no readable image:
        a `ValueError` naming it, or leaving it out with a warning. Defaults to "raise".

    Returns:
      `Index`.

    Raises:
      ValueError: no such split, no images, an unreadable file (with on_error="raise"),
        images with different channel counts and no color_mode.
    """
    if color_mode is not None:
        color_mode = validation.one_of("color_mode", color_mode, COLOR_MODES[1:])
    on_error = validation.one_of("on_error", on_error, ON_ERROR)
    folders = split_folders(root)
    if split not in folders:
        raise ValueError(f"{root} has the splits {sorted(folders)}; slices of them select "
                         f"examples (e.g. 'train[:90%]'). Received: split={split!r}")
    key = (os.path.abspath(root), split, color_mode, on_error)
    stamp = _stamp(folders[split])
    if key in _CACHE and _CACHE[key][0] == stamp:  # reading 50,000 headers takes seconds
        return _CACHE[key][1]
    class_names, files = _classes(folders[split])
    paths, labels = [], []
    for label, name in enumerate(files):
        paths += [os.path.join(folders[split], name, f) for f in files[name]]
        labels += [label] * len(files[name])
    if not paths:
        raise ValueError(f"No images ({', '.join(EXTENSIONS)}) in {folders[split]}. "
                         f"Received: name={str(root)!r}, split={split!r}")
    channels, sizes, keep, skipped = collections.Counter(), collections.Counter(), [], []
    examples = {}
    for i, path in enumerate(paths):
        try:
            c, hw = _header(path)
        except ValueError as error:
            if on_error == "raise":
                raise ValueError(f"{error}. Pass on_error='skip' to leave such files out "
                                 f"with a warning. Received: on_error={on_error!r}") from None
            skipped.append(path)
            continue
        channels[c] += 1
        sizes[hw] += 1
        examples.setdefault(c, path)
        keep.append(i)
    if skipped:
        warnings.warn(f"Skipped {len(skipped)} files that are not readable images, e.g. "
                      f"{skipped[0]}", UserWarning, stacklevel=2)
    if not keep:
        raise ValueError(f"No readable images in {folders[split]}")
    if color_mode is None:
        if len(channels) > 1:
            found = ", ".join(f"{n} with {c} channel(s) (e.g. {examples[c]})"
                              for c, n in sorted(channels.items()))
            raise ValueError(f"The images of {folders[split]} differ in channels: {found}. "
                             "Pass color_mode='rgb' or 'grayscale' to convert them all. "
                             "Received: color_mode=None")
        depth = next(iter(channels))
        if depth in (2, 4):
            raise ValueError(f"Images with an alpha channel ({examples[depth]}) are not "
                             "modelled; pass color_mode='rgb' or 'grayscale' to drop it. "
                             "Received: color_mode=None")
    else:
        depth = 1 if color_mode == "grayscale" else 3
    order = np.random.default_rng(_ORDER_SEED).permutation(len(keep))
    keep = np.asarray(keep)[order]
    result = Index(paths=[paths[i] for i in keep], labels=np.asarray(labels, np.int64)[keep],
                   class_names=class_names, channels=depth,
                   size=next(iter(sizes)) if len(sizes) == 1 else None)
    _CACHE[key] = (stamp, result)
    return result


def check_image_size(image_size):
    """`image_size` as a `(height, width)` tuple of ints (an int is a square), or None."""
    if image_size is None:
        return None
    if isinstance(image_size, (int, np.integer)) and not isinstance(image_size, bool):
        side = validation.positive_int("image_size", image_size)
        return side, side
    size = validation.shape_tuple("image_size", image_size)
    if len(size) != 2:
        raise ValueError(f"image_size must be an int or (height, width). "
                         f"Received: image_size={image_size!r}")
    return size


def resize(image, image_size, crop_to_aspect_ratio, pixel_max):
    """Resizes one `[h, w, c]` image to `image_size`, back on the original grid of levels.

    Rounding after the bilinear (area when shrinking) resize keeps 8-bit images 8-bit, so
    the data's kind, and the likelihood that fits it, does not change with the size.
    """
    if crop_to_aspect_ratio:
        shape = tf.shape(image)
        h, w = shape[0], shape[1]
        target = image_size[1] / image_size[0]
        crop_w = tf.minimum(w, tf.cast(tf.round(tf.cast(h, tf.float32) * target), tf.int32))
        crop_h = tf.minimum(h, tf.cast(tf.round(tf.cast(crop_w, tf.float32) / target), tf.int32))
        image = tf.image.crop_to_bounding_box(image, (h - crop_h) // 2, (w - crop_w) // 2,
                                              crop_h, crop_w)
    dtype = image.dtype
    resized = tf.image.resize(tf.cast(image, tf.float32), image_size, method="bilinear",
                              antialias=True)  # antialias: shrinking averages, not aliases
    resized = tf.clip_by_value(tf.round(resized), 0.0, pixel_max)
    return tf.cast(resized, dtype)


def dataset(idx, *, image_size=None, crop_to_aspect_ratio=False, shuffle=False, seed=0):
    """A `tf.data.Dataset` of `(index, uint8 image [h, w, c], label)` decoding `idx`'s files.

    Args:
      idx: `Index`.
      image_size: `(height, width)` or None. Needed when the images differ in size.
      crop_to_aspect_ratio: bool. Centre-crop to `image_size`'s aspect ratio before
        resizing, instead of stretching.
      shuffle: bool. Shuffle the files (all of them, before decoding) every epoch.
      seed: int. The shuffle's seed.
    """
    size = check_image_size(image_size)
    if size is None and idx.size is None:
        raise ValueError("The images differ in size; pass image_size=(height, width) to resize "
                         "them (crop_to_aspect_ratio=True to crop instead of stretching). "
                         "Received: image_size=None")
    out = size or idx.size
    ds = tf.data.Dataset.from_tensor_slices(
        (np.arange(len(idx.paths)), np.asarray(idx.paths), idx.labels))
    if shuffle:
        ds = ds.shuffle(len(idx.paths), seed=seed, reshuffle_each_iteration=True)

    def decode(i, path, label):
        image = tf.io.decode_image(tf.io.read_file(path), channels=idx.channels,
                                   expand_animations=False, dtype=tf.uint8)
        if size is not None:
            image = resize(image, size, crop_to_aspect_ratio, 255.0)
        image.set_shape((*out, idx.channels))
        return i, image, label

    # Deterministic order (the default) even in parallel: one seed, one training run.
    return ds.map(decode, num_parallel_calls=tf.data.AUTOTUNE)
