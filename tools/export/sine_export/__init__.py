"""SINE -> ONNX bundle exporter for SineGrpc (see docs/export.md)."""
