"""Export of zoo models for serving and edge devices.

    import export
    export.saved_model(model, "models/vae_mnist", version=1)     # -> models/vae_mnist/1/
    export.tflite(model, "vae_mnist_int8.tflite", quantization="int8")
    export.tflite_variants(model, {"float16": "vae_f16.tflite", "int8": "vae_int8.tflite"})
    from export.edge import EdgeSampler                           # numpy + LiteRT only

Importing this package does not import TensorFlow: the functions below load their
implementation on first call, so `export.edge` stays usable on a device without it.
"""

QUANTIZATIONS = ("float32", "float16", "dynamic", "int8")


def saved_model(model, base_dir, version=1, overwrite=False, include_encoder=True):
    """Writes `base_dir/<version>/` for TF Serving and returns that directory.

    The arguments, the signatures served and the errors are those of
    `export.serving.export_saved_model`, which this calls (importing TensorFlow then).
    """
    from export.serving import export_saved_model

    return export_saved_model(model, base_dir, version=version, overwrite=overwrite,
                              include_encoder=include_encoder)


def tflite(model, path, quantization="float32", int8_io=False, calibration_samples=500, seed=0,
           verify=True, per_channel_dense=False, plan=None, budget=None, batch_size=None):
    """Writes a `.tflite` sampler; see `export.lite.export_tflite` for the arguments.

    Args:
      model: a built zoo model.
      path: str. Destination `.tflite` file.
      quantization: str. One of `QUANTIZATIONS`. Defaults to "float32".
      int8_io, calibration_samples, seed, verify, per_channel_dense, plan, budget, batch_size:
        as in `export.lite.export_tflite`.

    Returns:
      str. `path`.
    """
    from export.lite import export_tflite

    return export_tflite(model, path, quantization=quantization, int8_io=int8_io,
                         calibration_samples=calibration_samples, seed=seed, verify=verify,
                         per_channel_dense=per_channel_dense, plan=plan, budget=budget,
                         batch_size=batch_size)


def tflite_variants(model, paths, int8_io=False, calibration_samples=500, seed=0, verify=True,
                    per_channel_dense=False, plan=None, budget=None, batch_size=None):
    """Writes `{quantization: path}` from one traced graph; see `export.lite.export_tflite_variants`.

    Args:
      model: a built zoo model.
      paths: dict. `{quantization: destination .tflite file}`.
      int8_io, calibration_samples, seed, verify, per_channel_dense, plan, budget, batch_size:
        as in `export.lite.export_tflite`.

    Returns:
      dict. `{quantization: path}` of the files written.
    """
    from export.lite import export_tflite_variants

    return export_tflite_variants(model, paths, int8_io=int8_io,
                                  calibration_samples=calibration_samples, seed=seed,
                                  verify=verify, per_channel_dense=per_channel_dense, plan=plan,
                                  budget=budget, batch_size=batch_size)
