"""Operational scripts shipped with the worker (GPU check)."""
