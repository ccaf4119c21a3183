"""The edge sampler, numpy and a TFLite interpreter only: `vaezoo_edge`, re-exported.

`from export.edge import EdgeSampler` keeps working; on a device install the sampler
alone with `pip install ./edge` (numpy and LiteRT, no TensorFlow) and import it from
`vaezoo_edge`. See `vaezoo_edge.sampler` for the documentation.
"""

from vaezoo_edge.sampler import METADATA_NAME, EdgeSampler, list_presets, read_tflite_metadata

__all__ = ["METADATA_NAME", "EdgeSampler", "list_presets", "read_tflite_metadata"]
