"""Presets: a trained model as a directory that loads offline in one line.

Layout (the keras-hub convention):
  config.json        the serialized model (`keras.saving.serialize_keras_object`)
  model.weights.h5   the weights, without optimizer state
  metadata.json      versions, parameter count, sha256 of the weights, and what the
                     producer adds: dataset, recipe, measured metrics

Loading never executes code from a preset: the config must name a class registered by
the zoo (`vaezoo>...`), it is deserialized in Keras safe mode (no Lambda layers, no
pickles), and the weights must match the sha256 recorded in `metadata.json`.
"""

import hashlib
import json
import os
import platform

import keras

from zoo import io_utils

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.weights.h5"
METADATA_FILE = "metadata.json"
BUILTIN_DIR = os.path.join(os.path.dirname(__file__), "presets")
_PACKAGE = "vaezoo"


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def list_presets():
    """Names of the built-in presets, shipped inside the package."""
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


def save_to_preset(model, directory, metadata=None, overwrite=False):
    """Writes `model` as a preset directory (atomically) and returns its path.

    Args:
      model: a zoo model.
      directory: str. Destination; must not exist unless `overwrite`.
      metadata: dict. Extra fields for `metadata.json` (dataset, recipe, metrics, ...).
      overwrite: bool. Replace an existing directory. Defaults to False.
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
            "weights_sha256": _sha256(os.path.join(tmp, WEIGHTS_FILE)),
            "versions": _versions(),
        }
        meta.update(metadata or {})
        io_utils.write_json(os.path.join(tmp, METADATA_FILE), meta)
    return directory


def resolve(preset):
    """The directory of a preset given by built-in name or local path."""
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
    """The `metadata.json` of a preset, as a dict."""
    with open(os.path.join(resolve(preset), METADATA_FILE)) as f:
        return json.load(f)


def from_preset(preset, cls=None):
    """Loads a model from a built-in preset name or a preset directory.

    Args:
      preset: str. A name from `list_presets()` or a directory written by
        `save_to_preset`.
      cls: optional model class; the preset must hold that class or a subclass.
    """
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
    if not expected or _sha256(paths[WEIGHTS_FILE]) != expected:
        raise ValueError(
            f"Weights of preset {directory!r} do not match the sha256 in its metadata.json; "
            "the file is corrupt or was modified.")
    model = keras.saving.deserialize_keras_object(config, safe_mode=True)
    model.load_weights(paths[WEIGHTS_FILE])
    return model


def load_model(source):
    """Loads a model from a `.keras` file, a preset directory or a built-in preset name."""
    source = os.fspath(source)
    if source.endswith(".keras"):
        if not os.path.isfile(source):
            raise ValueError(f"No such model file. Received: {source!r}")
        return keras.saving.load_model(source, safe_mode=True)
    return from_preset(source)
