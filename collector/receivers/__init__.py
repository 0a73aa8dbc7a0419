"""OTLP receivers: OTLP/HTTP (``http``) and OTLP/gRPC (``grpc``), sharing ``ingest``."""
