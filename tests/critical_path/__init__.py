"""Trace assembly, critical path and critical-path depth: specification, properties, real traces."""
