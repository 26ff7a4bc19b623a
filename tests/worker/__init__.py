"""Tests of the QLoRA worker (the real app over loopback, the tiny model)."""
