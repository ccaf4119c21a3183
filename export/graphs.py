"""The graphs every export target serves, built from a model's public sampler contract.

All targets (Keras, SavedModel, TFLite) run the same functions, so they can be compared
on identical inputs:
  sample_from_noise(noise [batch, noise_dim]) -> {"samples": [batch, *data_shape]}
  decode(z [batch, *latent_shape])            -> {"mean": [batch, *data_shape]}
and, for the full model (SavedModel only):
  encode(x [batch, *data_shape])              -> {"loc", "scale"}: q(z|x) mean and stddev
  score(x [batch, *data_shape])               -> {"score": [batch]}: negative ELBO, nats
"""

import keras
import tensorflow as tf

from zoo.model import LatentVariableModel

# The score's posterior sample is drawn with this fixed seed, so a served model gives the
# same score for the same input on every call.
SCORE_SEED = 20_240


def check_model(model):
    """Checks that `model` can be exported.

    Returns:
      `model` itself.

    Raises:
      TypeError: `model` is not a `zoo.LatentVariableModel`.
      ValueError: `model` is not built (has no weights).
    """
    if not isinstance(model, LatentVariableModel):
        raise TypeError(
            f"model must be a zoo model (zoo.LatentVariableModel). Received: model={type(model).__name__}")
    if not model.built or not model.weights:
        raise ValueError(
            f"model must be built (have weights) before export. Received: an unbuilt {type(model).__name__}")
    return model


def sampler_endpoints(model, batch_size=None):
    """Decoder-side graphs, from `model.sampler_spec()`.

    Args:
      model: a built zoo model.
      batch_size: int or None. A fixed batch for every input, or None (the default) for
        a dynamic one.

    Returns:
      dict. `{"sample_from_noise": (fn, signature), "decode": (fn, signature)}`: each
        function returns a dict of one float32 tensor (`samples` or `mean`,
        `[batch, *data_shape]`); each signature is a list of `tf.TensorSpec`.
    """
    spec = model.sampler_spec()

    def sample_from_noise(noise, *extra):
        return {"samples": spec.sample_from_noise(noise, *extra)}

    def decode(z, *extra):
        return {"mean": spec.decode_mean(z, *extra)}

    return {"sample_from_noise": (sample_from_noise, spec.noise_signature(batch_size)),
            "decode": (decode, spec.latent_signature(batch_size))}


def encoder_endpoints(model):
    """Data-side graphs of the full model.

    Returns:
      dict. `{"encode": (fn, signature), "score": (fn, signature)}`, both taking `x`
        `[batch, *data_shape]` float32: `encode` returns `loc` and `scale` of q(z|x)
        (`[batch, *latent_shape]`; of the top group only for a hierarchical model),
        `score` returns `score`, the negative ELBO in nats (`[batch]`), with a fixed
        posterior seed (`SCORE_SEED`). A conditional model's take int32 `labels`
        `[batch]` after `x` (its score is -ELBO of log p(x | y)).
    """
    x_spec = [tf.TensorSpec([None, *model.data_shape], tf.float32, name="x"),
              *model.sampler_spec().extra_inputs.values()]

    def encode(x, labels=None):
        posterior = model.encode(x, labels=labels)
        return {"loc": posterior.mean(), "scale": posterior.stddev()}

    def score(x, labels=None):
        return {"score": -model.elbo(x, seed=SCORE_SEED, labels=labels)}

    return {"encode": (encode, x_spec), "score": (score, x_spec)}


def archive(model, endpoints):
    """A `keras.export.ExportArchive` of `model` serving `endpoints`.

    The model is not passed to `track()`: the archive already saves every variable an
    endpoint uses, and on the TensorFlow backend `track()` adds the Keras wrappers of the
    same variables as separate objects, so each weight was written twice (twice the
    SavedModel's size, and twice the variable memory in TF Serving). Our models hold no
    lookup tables or other assets that need `track()`.

    Args:
      model: a built zoo model.
      endpoints: dict. `{name: (function, input_signature)}`, as from
        `sampler_endpoints` and `encoder_endpoints`.

    Returns:
      A `keras.export.ExportArchive`, not yet written out.
    """
    export_archive = keras.export.ExportArchive()
    for name, (fn, signature) in endpoints.items():
        export_archive.add_endpoint(name=name, fn=fn, input_signature=signature)
    return export_archive


def metadata(model):
    """What a consumer needs to use an exported sampler without the zoo.

    Returns:
      dict, JSON-serialisable: `format`, `model_name`, `model_class`, `noise_dim` (int),
        `latent_shape` and `output_shape` (lists of ints, without the batch axis),
        `likelihood` (class name) and `vaezoo_version`; a conditional model's also
        `num_classes`, `class_names` (or None) and `class_frequencies` (seen in training,
        what a sampler given no labels draws from).
    """
    import zoo
    from zoo import labels

    conditional = {}
    if model.num_classes:
        conditional = {"num_classes": int(model.num_classes),
                       "class_names": list(model.class_names) if model.class_names else None,
                       "class_frequencies": [float(f) for f in labels.frequencies(
                           model.class_counts.numpy())]}
    return {**conditional,
        "format": "vaezoo-export/1",
        "model_name": model.name,
        "model_class": type(model).__name__,
        "noise_dim": int(model.noise_dim),
        "latent_shape": [int(d) for d in model.latent_shape],
        "output_shape": [int(d) for d in model.data_shape],
        "likelihood": type(model.likelihood).__name__,
        "vaezoo_version": zoo.__version__,
    }
