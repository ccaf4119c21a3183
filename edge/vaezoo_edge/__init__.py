"""vaezoo-edge: sample vaezoo's exported decoders with numpy and a TFLite interpreter.

    from vaezoo_edge import EdgeSampler
    images = EdgeSampler.from_preset("vae_mnist").sample(16, seed=0)   # [16, 28, 28, 1]

No TensorFlow: the only dependencies are numpy and LiteRT (`ai-edge-litert`), or the legacy
`tflite-runtime`. The int8 samplers of the built-in presets are packaged (`list_presets()`);
any `.tflite` written by vaezoo's `export.tflite` loads with `EdgeSampler(path)`.
"""

from vaezoo_edge.sampler import EdgeSampler, list_presets, read_tflite_metadata

__all__ = ["EdgeSampler", "list_presets", "read_tflite_metadata"]
__version__ = "0.1.0"
