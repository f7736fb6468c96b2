"""Is a generated answer right? SQuAD-style normalisation, exact match against any alias, token F1.

Normalisation follows the SQuAD v1.1 evaluation script (and lm-evaluation-harness's TriviaQA and NQ-Open
scoring): lower case, drop ASCII punctuation, drop the articles *a*, *an*, *the*, collapse whitespace. One
step is added: accents are folded (``"Bogotá"`` matches ``"Bogota"``), since a model's spelling of a name
should not decide whether it knows the fact. A generation is correct when its normalised text equals the
normalised text of any accepted answer; its token F1 is the best over the accepted answers.

Examples:
    >>> normalize_answer("The  Eiffel Tower!")
    'eiffel tower'
    >>> exact_match(" Paris.", ("Paris", "Paree"))
    True
    >>> round(token_f1("the city of Paris", ("Paris",)), 3)
    0.5
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections import Counter
from collections.abc import Sequence

__all__ = ["exact_match", "normalize_answer", "token_f1"]

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = str.maketrans("", "", string.punctuation)


def normalize_answer(text: str) -> str:
    """``text`` lower-cased, without accents, punctuation or articles, with single spaces."""
    folded = "".join(
        char for char in unicodedata.normalize("NFKD", text.lower()) if not unicodedata.combining(char)
    )
    return " ".join(_ARTICLES.sub(" ", folded.translate(_PUNCTUATION)).split())


def exact_match(prediction: str, answers: Sequence[str]) -> bool:
    """Whether ``prediction`` equals one of ``answers`` after :func:`normalize_answer`.

    An empty prediction never matches, even an answer that normalises to nothing (e.g. ``"The"``).
    """
    normalized = normalize_answer(prediction)
    return bool(normalized) and any(normalized == normalize_answer(answer) for answer in answers)


def token_f1(prediction: str, answers: Sequence[str]) -> float:
    """The best token-overlap F1 between ``prediction`` and any of ``answers`` (SQuAD's definition)."""
    predicted = normalize_answer(prediction).split()
    best = 0.0
    for answer in answers:
        gold = normalize_answer(answer).split()
        common = sum((Counter(predicted) & Counter(gold)).values())
        if common:
            precision, recall = common / len(predicted), common / len(gold)
            best = max(best, 2 * precision * recall / (precision + recall))
    return best
