"""OpenTelemetry traces: the SDK's set-up (``provider``), the project's own spans and the encoder.

``provider`` configures the tracer provider once per worker; ``http_spans``, ``db_spans`` and
``redis_spans`` make the spans on the request path; ``otlp_encoding`` writes them as OTLP;
``export`` batches them out, counts every one exported or dropped, and bounds the shutdown.
"""
