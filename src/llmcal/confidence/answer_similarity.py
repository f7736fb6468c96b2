"""How alike two answers are, from 0 (nothing shared) to 1 (the same words): ROUGE-L and Jaccard.

- :func:`rouge_l`: the F-measure of the longest common subsequence of tokens (Lin 2004), tokenised as
  Google's ``rouge-score`` does without stemming (lower case, runs of characters other than ``a-z0-9``
  split tokens); lexical similarity (Fomicheva et al. 2020) averages it over pairs of samples.
- :func:`jaccard`: shared words over all words of the two answers, SQuAD-normalised
  (:func:`~llmcal.tasks.answers.normalize_answer`); the similarity Lin et al. (2024) build their graph
  spectra on when no NLI model is given.

Two empty answers are alike (1.0); an empty and a non-empty one share nothing (0.0).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import numpy as np
from numpy.typing import NDArray

from llmcal.tasks.answers import normalize_answer

__all__ = ["jaccard", "rouge_l", "similarity_matrix"]

_NOT_ALPHANUMERIC = re.compile(r"[^a-z0-9]+")


def _rouge_tokens(text: str) -> list[str]:
    return _NOT_ALPHANUMERIC.sub(" ", text.lower()).split()


def _longest_common_subsequence(first: Sequence[str], second: Sequence[str]) -> int:
    previous = [0] * (len(second) + 1)
    for token in first:
        current = [0]
        for position, other in enumerate(second):
            current.append(
                previous[position] + 1 if token == other else max(previous[position + 1], current[-1])
            )
        previous = current
    return previous[-1]


def rouge_l(first: str, second: str) -> float:
    """ROUGE-L F-measure of two texts (symmetric).

    Examples:
        >>> round(rouge_l("the cat sat on the mat", "a cat was on the mat"), 4)
        0.6667
    """
    a, b = _rouge_tokens(first), _rouge_tokens(second)
    if not a or not b:
        return float(not a and not b)
    common = _longest_common_subsequence(a, b)
    if common == 0:
        return 0.0
    precision, recall = common / len(b), common / len(a)
    return 2 * precision * recall / (precision + recall)


def jaccard(first: str, second: str) -> float:
    """Shared normalised words over all of the two texts' normalised words.

    Examples:
        >>> jaccard("The Eiffel Tower", "eiffel tower, Paris")
        0.6666666666666666
    """
    a, b = set(normalize_answer(first).split()), set(normalize_answer(second).split())
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def similarity_matrix(texts: Sequence[str], similarity: Callable[[str, str], float]) -> NDArray[np.float64]:
    """The symmetric matrix of ``similarity`` between every pair of ``texts`` (1 on the diagonal)."""
    size = len(texts)
    matrix = np.eye(size)
    for i in range(size):
        for j in range(i + 1, size):
            matrix[i, j] = matrix[j, i] = similarity(texts[i], texts[j])
    return matrix
