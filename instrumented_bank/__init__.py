"""A demo bank of FastAPI microservices instrumented with OpenTelemetry. It only speaks OTLP."""
