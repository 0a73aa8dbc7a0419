"""The live collector: OTLP receivers, pipeline, live state, store, API, dashboard, /metrics."""
