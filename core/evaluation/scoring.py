"""Reference-based scores: exact match and token-level F1, or accuracy for labels.

Normalisation follows SQuAD's evaluation script (lower case, no punctuation,
no articles, single spaces) so "The answer." and "answer" match: formatting
noise should not decide which model "knew" the answer.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Sequence

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = str.maketrans("", "", string.punctuation)

# A dataset whose answers come from a small set of short labels is a
# classification task: accuracy says more there than overlap scores.
MAX_LABELS = 10
MAX_LABEL_WORDS = 4


def normalize(text: str) -> str:
    """Lower case, strip punctuation and articles, collapse whitespace."""
    lowered = text.lower().translate(_PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", lowered).split())


def exact_match(prediction: str, reference: str) -> bool:
    """True when both texts are equal after normalisation."""
    return normalize(prediction) == normalize(reference)


def token_f1(prediction: str, reference: str) -> float:
    """Harmonic mean of token precision and recall (bag of normalised words)."""
    predicted = normalize(prediction).split()
    expected = normalize(reference).split()
    if not predicted or not expected:
        return float(predicted == expected)
    common = sum((Counter(predicted) & Counter(expected)).values())
    if common == 0:
        return 0.0
    precision = common / len(predicted)
    recall = common / len(expected)
    return 2 * precision * recall / (precision + recall)


def is_classification(references: Sequence[str]) -> bool:
    """True when the answers look like labels: few distinct, short, repeated.

    Needs at least two references per distinct label on average, so a handful
    of free-text answers that happen to be distinct is not read as labels.
    """
    labels = [normalize(ref) for ref in references]
    if len(labels) < 4:
        return False
    distinct = set(labels)
    return (
        len(distinct) <= MAX_LABELS
        and len(distinct) * 2 <= len(labels)
        and all(0 < len(label.split()) <= MAX_LABEL_WORDS for label in distinct)
    )
