"""The collector's HTTP API, one router per area (report, traces, stream, health/metrics)."""
