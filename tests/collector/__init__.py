"""Collector tests: receivers, pipeline, live state, store, API, metrics, CLI."""
