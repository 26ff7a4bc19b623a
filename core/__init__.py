"""tunebot's domain: datasets, validation, tokens, providers, training, evaluation.

Nothing here knows about Slack or web servers (tests/test_layering.py checks it).
"""

__version__ = "0.1.0"
