"""Token accounting: offline encodings, the model table, per-example counts, billing.

Typical use (the validator)::

    spec = resolve_model("gpt-4o-mini", price_overrides=settings.price_overrides)
    counter = ChatTokenCounter(get_encoding(spec.encoding))
    counts = [counter.count_messages(ex["messages"]) for ex in examples]
    bill = estimate_billing((c.total for c in counts), spec=spec, n_examples=len(counts))

Open models (``spec.provider == "open"``) are counted with o200k_base as an
estimate unless a local tokenizer is given (:class:`HFTokenCounter`), which
counts the very sequences the worker trains (:class:`SequenceBuilder`).
"""

from core.tokens.billing import BillingEstimate, default_epochs, estimate_billing
from core.tokens.counting import ChatTokenCounter, ExampleTokens, MessageCounter, compact_json
from core.tokens.encodings import SUPPORTED_ENCODINGS, get_encoding, load_encoding
from core.tokens.hf import HFTokenCounter
from core.tokens.models import (
    OPEN_MODEL_ENCODING,
    OPEN_MODEL_MAX_TOKENS,
    ModelSpec,
    known_models,
    resolve_model,
)
from core.tokens.sequences import SequenceBuilder, TrainingSequence

__all__ = [
    "OPEN_MODEL_ENCODING",
    "OPEN_MODEL_MAX_TOKENS",
    "SUPPORTED_ENCODINGS",
    "BillingEstimate",
    "ChatTokenCounter",
    "ExampleTokens",
    "HFTokenCounter",
    "MessageCounter",
    "ModelSpec",
    "SequenceBuilder",
    "TrainingSequence",
    "compact_json",
    "default_epochs",
    "estimate_billing",
    "get_encoding",
    "known_models",
    "load_encoding",
    "resolve_model",
]
