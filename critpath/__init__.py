"""critpath: critical-path analysis for microservice traces (composition root)."""

__version__ = "0.1.0"
