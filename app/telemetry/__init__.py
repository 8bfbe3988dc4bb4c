"""Operational signals of the service: health probes (and, later, logs, metrics, traces)."""
