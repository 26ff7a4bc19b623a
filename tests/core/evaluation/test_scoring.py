from __future__ import annotations

import pytest

from core.evaluation.scoring import exact_match, is_classification, normalize, token_f1


def test_normalisation_ignores_case_punctuation_and_articles() -> None:
    assert normalize("The  Answer, is: Paris!") == "answer is paris"
    assert exact_match("Paris.", "paris")
    assert not exact_match("Paris, France", "Paris")


def test_token_f1_matches_hand_computation() -> None:
    # prediction 3 tokens, reference 2, overlap 2: P=2/3, R=1, F1=0.8
    assert token_f1("Paris France capital", "Paris France") == pytest.approx(0.8)
    assert token_f1("Berlin", "Paris") == 0.0
    assert token_f1("", "") == 1.0
    assert token_f1("", "Paris") == 0.0


def test_classification_needs_few_short_repeated_labels() -> None:
    assert is_classification(
        ["positive", "negative", "Positive.", "neutral", "negative", "positive"]
    )
    assert not is_classification(["a long free text answer number one", "another", "x", "y"])
    assert not is_classification(["one", "two", "three", "four"])  # all distinct
    assert not is_classification(["yes", "no"])  # too few to tell
