"""Presets: a trained model as a directory that loads offline in one line.

Layout (the keras-hub convention):
  config.json        the serialized model (`keras.saving.serialize_keras_object`)
  model.weights.h5   the weights, without optimizer state
  metadata.json      versions, parameter count, sha256 of the weights, and what the
                     producer adds: dataset, recipe, measured metrics

  MODEL_CARD.md      the model card, generated from metadata.json

A preset can be a built-in name, a local directory, or an https URL of a `.tar.gz`
archive of the directory (`archive_preset` writes one) with its sha256: downloaded once
into the Keras cache by `keras.utils.get_file`, checked, and unpacked.

Loading never executes code from a preset: the config must name a class registered by
the zoo (`vaezoo>...`), it is deserialized in Keras safe mode (no Lambda layers, no
pickles), the weights must match the sha256 recorded in `metadata.json`, and an archive
may hold only the preset's own files (no paths, no links).
"""

import json
import os
import platform
import re
import tarfile
import urllib.parse
import zipfile

import keras

from zoo import io_utils

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.weights.h5"
METADATA_FILE = "metadata.json"
CARD_FILE = "MODEL_CARD.md"
PRESET_FILES = (CONFIG_FILE, WEIGHTS_FILE, METADATA_FILE, CARD_FILE)
CACHE_SUBDIR = "vaezoo_presets"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
BUILTIN_DIR = os.path.join(os.path.dirname(__file__), "presets")
_PACKAGE = "vaezoo"


def list_presets():
    """Names of the built-in presets, shipped inside the package.

    Returns:
      A sorted list of str; empty if none ship.
    """
    if not os.path.isdir(BUILTIN_DIR):
        return []
    return sorted(
        name for name in os.listdir(BUILTIN_DIR)
        if os.path.isfile(os.path.join(BUILTIN_DIR, name, CONFIG_FILE))
    )


def _versions():
    import tensorflow as tf
    import tensorflow_probability as tfp

    import zoo

    return {
        "vaezoo": zoo.__version__,
        "keras": keras.__version__,
        "tensorflow": tf.__version__,
        "tensorflow_probability": tfp.__version__,
        "python": platform.python_version(),
    }


def hardware():
    """What this machine trains on, in words: its accelerators, else its CPU cores
    (e.g. "1 GPU (NVIDIA A100-SXM4-40GB)" or "a 2-core CPU (x86_64)"), as the model card
    writes it after "on"."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        names = sorted({tf.config.experimental.get_device_details(g).get("device_name", "GPU")
                        for g in gpus})
        return f"{len(gpus)} GPU{'s' if len(gpus) > 1 else ''} ({', '.join(names)})"
    return f"a {os.cpu_count()}-core CPU ({platform.machine()})"


def save_to_preset(model, directory, metadata=None, overwrite=False):
    """Writes `model` as a preset directory (atomically) and returns its path.

    Args:
      model: a zoo model.
      directory: str. Destination; must not exist unless `overwrite`.
      metadata: dict. Extra fields for `metadata.json` (dataset, recipe, metrics, ...).
        `hardware`, the machine the training time was measured on, defaults to this
        one's (see `hardware`): save where you trained, or give it.
      overwrite: bool. Replace an existing directory. Defaults to False.

    Returns:
      `directory`, as given.

    Raises:
      ArtifactExistsError: `directory` exists and `overwrite` is False.
    """
    config = keras.saving.serialize_keras_object(model)
    # The model only: how it was compiled (optimizer, schedule) is not part of a preset.
    config.pop("compile_config", None)
    # A fresh, uncompiled copy carries the weights without the optimizer's state.
    fresh = keras.saving.deserialize_keras_object(config)
    fresh.set_weights(model.get_weights())
    with io_utils.atomic_directory(directory, overwrite=overwrite) as tmp:
        fresh.save_weights(os.path.join(tmp, WEIGHTS_FILE))
        io_utils.write_json(os.path.join(tmp, CONFIG_FILE), config)
        meta = {
            "class_name": type(model).__name__,
            "parameter_count": int(model.count_params()),
            "weights_sha256": io_utils.sha256(os.path.join(tmp, WEIGHTS_FILE)),
            "versions": _versions(),
            "hardware": hardware(),
        }
        meta.update(metadata or {})
        _write_metadata(tmp, meta, os.path.basename(os.path.normpath(directory)))
    return directory


def _write_metadata(directory, meta, name):
    """Writes `metadata.json` and the model card generated from it, each atomically."""
    io_utils.write_json(os.path.join(directory, METADATA_FILE), meta)
    io_utils.write_text(os.path.join(directory, CARD_FILE), model_card(meta, name))


def _fmt(value):
    """Five significant digits (two decimals for a three-digit NLL in nats, not one),
    whole numbers from 1,000 up (sizes in KiB, not in exponent notation)."""
    if not isinstance(value, float):
        return str(value)
    return f"{value:,.0f}" if abs(value) >= 1e3 else f"{value:,.5g}"


# A card's limits when its metadata records none of its own.
DEFAULT_LIMITS = ("Trained on one dataset; scores and samples mean little outside it. NLL "
                  "figures are in nats on the dataset's test split as the recipe binarizes "
                  "it; compare only with figures measured the same way.")


def model_card(metadata, name):
    """A markdown model card for a preset, from its metadata.

    Args:
      metadata: dict. The preset's `metadata.json` (see `save_to_preset`): `metrics`,
        `dataset`, `recipe`, `epochs`, `train_seconds`, `limits`, `<topic>_note`
        fields and the provenance fields are used when present.
      name: str. The preset's name, the card's title.

    Returns:
      str. Markdown text, ending with a newline.
    """
    metrics = metadata.get("metrics", {})
    lines = [f"# {name}", "",
             f"`{metadata.get('class_name', '?')}` from vaezoo, "
             f"{metadata.get('parameter_count', 0):,} parameters.", "",
             "## Training", "",
             f"- Data: {metadata.get('dataset', 'not recorded')}",
             f"- Recipe: `{metadata.get('recipe', 'not recorded')}`"]
    if "epochs" in metadata:
        lines.append(f"- Epochs: {metadata['epochs']}")
    if "train_seconds" in metadata:
        # Presets saved before the hardware was recorded were all trained on 2-core CPUs.
        lines.append(f"- Training time: {metadata['train_seconds'] / 3600:.2f} h on "
                     f"{metadata.get('hardware', 'a 2-core CPU')}")
    lines += ["", "## Measured", ""]
    if metrics:
        lines += ["| metric | value |", "| --- | --- |"]
        lines += [f"| {k} | {_fmt(v)} |" for k, v in metrics.items() if not isinstance(v, dict)]
    else:
        lines.append("Nothing measured yet.")
    for key, note in metadata.items():
        if key.endswith("_note"):
            lines += ["", f"{key[:-5].replace('_', ' ')}: {note}"]
    lines += ["", "## Limits", "",
              metadata.get("limits", DEFAULT_LIMITS),
              "", "## Provenance", "",
              f"- Weights sha256: `{metadata.get('weights_sha256', '?')}`",
              "- Versions: " + ", ".join(f"{k} {v}" for k, v in metadata.get("versions", {}).items()),
              ""]
    return "\n".join(lines)


def update_metadata(directory, metrics=None, **fields):
    """Adds `metrics` and fields to a preset's metadata.json and regenerates its card.

    The weights are untouched (their sha256 stays valid); both files are rewritten
    atomically.

    Args:
      directory: str. A preset directory (or built-in name).
      metrics: dict. Measured figures merged into `metadata["metrics"]`.
      **fields: other top-level fields to set.

    Returns:
      dict. The new metadata.
    """
    # A built-in name is written in the built-in preset's directory, never in a new
    # directory of that name under the current folder.
    directory = resolve(directory)
    meta = load_metadata(directory)
    meta.update(fields)
    meta["metrics"] = {**meta.get("metrics", {}), **(metrics or {})}
    _write_metadata(directory, meta, os.path.basename(os.path.normpath(directory)))
    return meta


def archive_preset(directory, path):
    """Packs a preset directory into a `.tar.gz` at `path` (atomically); returns its sha256.

    Publish the archive anywhere over https; `from_preset(url, sha256=...)` loads it.

    Args:
      directory: str. A preset directory or built-in name.
      path: str. Destination `.tar.gz` file.

    Returns:
      str. The archive's sha256, 64 hex digits.
    """
    directory = resolve(directory)
    with io_utils.atomic_path(path, suffix=".tar.gz") as tmp:
        with tarfile.open(tmp, "w:gz") as archive:
            for name in PRESET_FILES:
                if os.path.isfile(os.path.join(directory, name)):
                    archive.add(os.path.join(directory, name), arcname=name)
    return io_utils.sha256(path)


def _unpack(archive_path, target):
    """Extracts a preset archive into `target`, refusing anything but the preset's files."""
    try:
        with tarfile.open(archive_path, "r:*") as archive:
            members = archive.getmembers()
            for member in members:
                if not member.isfile() or member.name not in PRESET_FILES:
                    raise ValueError(
                        f"Refusing preset archive {archive_path}: member {member.name!r} is not "
                        f"one of the preset files {list(PRESET_FILES)} (no paths, links or "
                        "other entries are allowed).")
            with io_utils.atomic_directory(target, overwrite=True) as tmp:
                for member in members:
                    source = archive.extractfile(member)
                    with open(os.path.join(tmp, member.name), "wb") as f:
                        f.write(source.read())
    except tarfile.TarError as err:
        raise ValueError(f"Not a readable preset archive: {archive_path} ({err})") from err


def _download(url, sha256=None, cache_dir=None):
    """The local directory of an https preset, downloading and unpacking it once."""
    parts = urllib.parse.urlsplit(url)
    fragment = dict(urllib.parse.parse_qsl(parts.fragment))
    sha256 = (sha256 or fragment.get("sha256", "")).lower()
    if not _SHA256.match(sha256):
        raise ValueError(
            "A URL preset needs the sha256 of its archive: from_preset(url, sha256=...) or "
            f"url#sha256=<64 hex digits>. Received: sha256={sha256 or None!r}")
    url = urllib.parse.urlunsplit(parts._replace(fragment=""))
    name = os.path.basename(parts.path) or "preset.tar.gz"
    fname = f"{sha256[:16]}-{name}"
    try:
        archive_path = keras.utils.get_file(fname=fname, origin=url, file_hash=sha256,
                                            hash_algorithm="sha256", cache_subdir=CACHE_SUBDIR,
                                            cache_dir=cache_dir)
    except ValueError as err:
        raise ValueError(f"Preset download from {url} failed its sha256 check: {err}") from err
    except Exception as err:  # URLError, HTTPError, OSError: say what and where
        raise ValueError(f"Could not download preset from {url}: {err}") from err
    target = archive_path[: -len(".tar.gz")] if archive_path.endswith(".tar.gz") else archive_path + ".d"
    if not os.path.isfile(os.path.join(target, CONFIG_FILE)):
        _unpack(archive_path, target)
    return target


def resolve(preset):
    """The directory of a preset given by built-in name or local path.

    Returns:
      str. `preset` itself if it is a directory, else the built-in preset's directory.

    Raises:
      TypeError: `preset` is not a str or path.
      ValueError: neither a directory nor a built-in name.
    """
    if not isinstance(preset, (str, os.PathLike)):
        raise TypeError(f"preset must be a preset name or a directory. Received: preset={preset!r}")
    preset = os.fspath(preset)
    if os.path.isdir(preset):
        return preset
    builtin = os.path.join(BUILTIN_DIR, preset)
    if os.sep not in preset and os.path.isdir(builtin):
        return builtin
    raise ValueError(
        f"Unknown preset: not a built-in preset nor a directory. Received: preset={preset!r}. "
        f"Built-in presets: {list_presets() or 'none shipped yet'}")


def load_metadata(preset):
    """The `metadata.json` of a preset (built-in name or directory), as a dict."""
    with open(os.path.join(resolve(preset), METADATA_FILE)) as f:
        return json.load(f)


# Constructor arguments that change how a model trains, not its weights: what a
# fine-tuning run may set differently from the recipe that trained the preset. "dtype"
# (a Keras policy such as "mixed_bfloat16") keeps float32 weights, so the preset's load.
TRAINING_OVERRIDES = ("beta", "kl_warmup_steps", "free_bits", "active_unit_threshold", "seed",
                      "gradient_clip_norm", "skip_threshold", "max_consecutive_skips",
                      "skip_nonfinite", "dtype")


def from_preset(preset, cls=None, sha256=None, cache_dir=None, **overrides):
    """Loads a model from a built-in preset name, a preset directory or an https URL.

    Args:
      preset: str. A name from `list_presets()`, a directory written by
        `save_to_preset`, or the http(s) URL of an archive written by `archive_preset`.
      cls: optional model class; the preset must hold that class or a subclass.
      sha256: str. For a URL: the archive's sha256 (or give it as `url#sha256=...`).
      cache_dir: str. For a URL: the Keras cache directory. Defaults to `~/.keras`.
      **overrides: training settings to change for fine-tuning (`TRAINING_OVERRIDES`),
        e.g. `kl_warmup_steps=0`: a recipe's KL warm-up counts from the new optimizer's
        step 0, so it would start again on a model that is already trained.

    Returns:
      The model, built with its weights loaded and not compiled.

    Raises:
      ValueError: unknown preset, a failed download or sha256 check, a missing or
        unreadable file, a class that is not the zoo's (or not `cls`), or an override
        that is not a training setting.
    """
    unknown = sorted(set(overrides) - set(TRAINING_OVERRIDES))
    if unknown:
        raise ValueError(f"Only training settings can be overridden when loading a preset: "
                         f"{list(TRAINING_OVERRIDES)}. Received: {', '.join(unknown)}")
    if isinstance(preset, str) and preset.startswith(("https://", "http://")):
        preset = _download(preset, sha256=sha256, cache_dir=cache_dir)
    directory = resolve(preset)
    paths = {name: os.path.join(directory, name) for name in (CONFIG_FILE, WEIGHTS_FILE, METADATA_FILE)}
    missing = [n for n, p in paths.items() if not os.path.isfile(p)]
    if missing:
        raise ValueError(f"Preset directory {directory!r} is missing {missing}.")
    try:
        with open(paths[CONFIG_FILE]) as f:
            config = json.load(f)
        with open(paths[METADATA_FILE]) as f:
            metadata = json.load(f)
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(f"Preset {directory!r} has an unreadable config or metadata: {err}") from err
    registered = config.get("registered_name", "") if isinstance(config, dict) else ""
    if not registered.startswith(f"{_PACKAGE}>"):
        raise ValueError(
            f"Preset {directory!r} does not hold a vaezoo model; refusing to deserialize "
            f"class {registered or config!r}.")
    if cls is not None:
        found = keras.saving.get_registered_object(registered)
        if found is None or not issubclass(found, cls):
            raise ValueError(
                f"Preset {directory!r} holds a {registered.split('>')[-1]}, not a "
                f"{cls.__name__}. Load it with zoo.from_preset or "
                f"zoo.{registered.split('>')[-1]}.from_preset.")
    expected = metadata.get("weights_sha256")
    if not expected or io_utils.sha256(paths[WEIGHTS_FILE]) != expected:
        raise ValueError(
            f"Weights of preset {directory!r} do not match the sha256 in its metadata.json; "
            "the file is corrupt or was modified.")
    if overrides:
        config = {**config, "config": {**config["config"], **overrides}}
    model = keras.saving.deserialize_keras_object(config, safe_mode=True)
    model.load_weights(paths[WEIGHTS_FILE])
    return model


def load_model(source):
    """Loads a model from a `.keras` file or a preset (built-in name, directory, URL).

    Args:
      source: str or path. A `.keras` file (loaded in Keras safe mode) or anything
        `from_preset` takes.

    Returns:
      The model.

    Raises:
      ValueError: a missing or damaged `.keras` file, or as `from_preset`.
    """
    source = os.fspath(source)
    if source.endswith(".keras"):
        if not os.path.isfile(source):
            raise ValueError(f"No such model file. Received: {source!r}")
        # Keras reports a truncated archive as "File not found"; say what is wrong.
        try:
            with zipfile.ZipFile(source) as archive:
                damaged = archive.testzip()
        except zipfile.BadZipFile:
            damaged = "the archive"
        if damaged is not None:
            raise ValueError(f"{source!r} is not a complete .keras file ({damaged} is truncated "
                             f"or corrupt); nothing was loaded.")
        return keras.saving.load_model(source, safe_mode=True)
    return from_preset(source)
