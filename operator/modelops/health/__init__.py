"""Observations that need I/O beyond the API server: Prometheus queries for canary analysis."""
