"""Export of zoo models for serving and edge devices.

Not implemented yet: SavedModel (TF Serving layout), TFLite (float32 / float16 /
dynamic-range / int8) and the TensorFlow-free `export.edge.EdgeSampler` arrive with the
export issue. This package exists so the distribution's layout is stable.
"""
