"""SavedModel export laid out for TensorFlow Serving."""

import json
import numbers
import os

from export import graphs
from zoo import io_utils

METADATA_FILE = os.path.join("assets.extra", "vaezoo.json")


def export_saved_model(model, base_dir, version=1, overwrite=False, include_encoder=True):
    """Writes `base_dir/<version>/`, a SavedModel TF Serving loads, and returns its path.

    Signatures (inputs and outputs named, batch dimension dynamic):
      serving_default, sample_from_noise: `noise` [batch, noise_dim] -> `samples`
      decode: `z` [batch, *latent_shape] -> `mean` (the mean of p(x|z))
      encode: `x` -> `loc`, `scale` of q(z|x)          (with `include_encoder`)
      score:  `x` -> `score`, the negative ELBO in nats (with `include_encoder`)

    The version directory is built beside its destination and renamed into place, so a
    server polling `base_dir` never sees a half-written version. `assets.extra/vaezoo.json`
    records the model's shapes and the signature names.

    Args:
      model: a built zoo model.
      base_dir: str. The model's directory in the server's model base path.
      version: int. The version number (a positive integer). Defaults to 1.
      overwrite: bool. Replace an existing version. Defaults to False.
      include_encoder: bool. Also serve `encode` and `score`. Defaults to True.

    Returns:
      str. The version directory, `base_dir/<version>`.

    Raises:
      ArtifactExistsError: the version exists and `overwrite` is False.
    """
    graphs.check_model(model)
    if isinstance(version, bool) or not isinstance(version, numbers.Integral) or version <= 0:
        raise ValueError(f"version must be a positive integer (TF Serving's version "
                         f"directories). Received: version={version!r}")
    base_dir = os.fspath(base_dir)
    if os.path.exists(base_dir) and not os.path.isdir(base_dir):
        raise ValueError(f"base_dir must be a directory. Received: base_dir={base_dir!r} (a file)")
    target = os.path.join(base_dir, str(int(version)))
    if os.path.exists(target) and not overwrite:
        raise io_utils.ArtifactExistsError(
            f"Version {version} already exists at {target}; pass overwrite=True to replace "
            f"it or export a new version. Received: version={version}")
    endpoints = graphs.sampler_endpoints(model)
    if include_encoder:
        endpoints.update(graphs.encoder_endpoints(model))
    export_archive = graphs.archive(model, endpoints)
    # The default signature is the sampler itself, registered under both names.
    fn, signature = endpoints["sample_from_noise"]
    export_archive.add_endpoint(name="serving_default", fn=fn, input_signature=signature)
    meta = {**graphs.metadata(model), "signatures": sorted(endpoints) + ["serving_default"]}
    with io_utils.atomic_directory(target, overwrite=overwrite) as tmp:
        export_archive.write_out(tmp, verbose=False)
        os.makedirs(os.path.join(tmp, "assets.extra"), exist_ok=True)
        io_utils.write_json(os.path.join(tmp, METADATA_FILE), meta)
    return target


def read_metadata(version_dir):
    """The `assets.extra/vaezoo.json` of an exported version, as a dict.

    Args:
      version_dir: str. A `base_dir/<version>` directory written by `export_saved_model`.

    Returns:
      dict. The metadata of `graphs.metadata` plus `signatures`, the list of served names.
    """
    with open(os.path.join(version_dir, METADATA_FILE)) as f:
        return json.load(f)
