"""Observations that decide a rollout: Prometheus queries over the canary's metrics.

Everything here does I/O (or builds what I/O sends) and stays out of the pure core; the rollout
state machine only sees the numbers and errors that come out.
"""
