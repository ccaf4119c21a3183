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
    """Writes `base_dir/<version>/` for TF Serving; see `export.serving.export_saved_model`."""
    from export.serving import export_saved_model

    return export_saved_model(model, base_dir, version=version, overwrite=overwrite,
                              include_encoder=include_encoder)


def tflite(model, path, quantization="float32", int8_io=False, calibration_samples=500, seed=0,
           verify=True, per_channel_dense=False):
    """Writes a `.tflite` sampler; see `export.lite.export_tflite`."""
    from export.lite import export_tflite

    return export_tflite(model, path, quantization=quantization, int8_io=int8_io,
                         calibration_samples=calibration_samples, seed=seed, verify=verify,
                         per_channel_dense=per_channel_dense)


def tflite_variants(model, paths, int8_io=False, calibration_samples=500, seed=0, verify=True,
                    per_channel_dense=False):
    """Writes `{quantization: path}` from one traced graph; see `export.lite.export_tflite_variants`."""
    from export.lite import export_tflite_variants

    return export_tflite_variants(model, paths, int8_io=int8_io,
                                  calibration_samples=calibration_samples, seed=seed,
                                  verify=verify, per_channel_dense=per_channel_dense)
