"""Sparkplug B (spBv1.0): topic namespace, payload decoding with Eclipse Tahu's schema, and the birth/death
state of edge nodes and devices kept in the database (docs/sparkplug.md).

`sparkplug_b_pb2.py` (and its `.pyi`) is generated from `sparkplug_b.proto`, Eclipse Tahu's file as it is;
regenerate both with grpcio-tools (see docs/sparkplug.md) rather than editing them.
"""
