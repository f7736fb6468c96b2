r"""Confidence from several sampled answers: how much the model agrees with itself.

Each method reads a record's ``K`` samples (:data:`~llmcal.confidence.generation_passes.SAMPLES`) and their
equivalence classes (:mod:`llmcal.confidence.answer_equivalence`; the greedy answer's class first), and
gives a confidence in [0, 1]. The methods that measure *uncertainty* also give that raw score
(``GenerationMethod.uncertainty``), and their confidence is a fixed decreasing map of it onto [0, 1] by its
largest value over ``K`` samples; that confidence ranks answers as the uncertainty does (AUROC, AURC and
PRR are the same) but is not a probability until calibrated (``llmcal calibrate``):

- ``self-consistency`` (Wang et al. 2023; Manakul et al. 2023): the share of samples equivalent to the greedy
  answer. A frequency, read as a confidence directly.
- ``semantic-entropy`` (Kuhn et al. 2023; Farquhar et al. 2024, "discrete"): the entropy of the samples'
  classes by their frequencies, ``-sum_c p_c ln p_c`` with ``p_c = n_c / K``; confidence
  ``1 - SE / ln K``.
- ``semantic-entropy-lik``: the same over classes weighted by likelihood (Kuhn et al. 2023): ``p_c`` is the
  summed probability ``exp(sum of log-probs)`` of the class's distinct answers (the answer's tokens, as
  ``seq-prob``), renormalised over the classes sampled; confidence ``1 - SE / ln K``.
- ``semantic-sets`` (Lin et al. 2024, NumSemSets): the number of classes ``N`` among the samples;
  confidence ``(K - N) / (K - 1)``.
- ``lexical-similarity`` (Fomicheva et al. 2020): the mean ROUGE-L F-measure over pairs of samples.
- ``eigv``, ``degree``, ``eccentricity`` (Lin et al. 2024): spectra of the samples' similarity graph
  (Jaccard similarity of their words, :mod:`llmcal.confidence.answer_similarity`), with
  ``L = I - D^-1/2 W D^-1/2``. EigV: ``U = sum_k max(0, 1 - lambda_k)`` in [1, K], confidence
  ``(K - U) / (K - 1)``. Degree: ``U = trace(K I - D) / K^2 = 1 - mean(W)``, confidence
  ``1 - U / (1 - 1/K)``. Eccentricity: the rows of the eigenvectors with ``lambda < 0.9`` embed the
  samples; ``U`` is the Frobenius norm of the embedding centred on its mean, in [0, sqrt(K - 1)],
  confidence ``1 - U / sqrt(K - 1)``.
"""

from __future__ import annotations

import functools
import math
from collections import Counter

import numpy as np
from numpy.typing import NDArray
from scipy.special import logsumexp

from llmcal.confidence.answer_similarity import jaccard, rouge_l, similarity_matrix
from llmcal.confidence.generation_methods import generation_method
from llmcal.confidence.generation_passes import SAMPLES
from llmcal.confidence.records import GenerationRecord

__all__ = [
    "ECCENTRICITY_THRESHOLD",
    "degree_uncertainty",
    "eccentricity",
    "eigenvalue_uncertainty",
    "semantic_entropy",
]

ECCENTRICITY_THRESHOLD = 0.9
"""Eigenvectors of the graph Laplacian with eigenvalues below this embed the samples (Lin et al.)."""


def _samples(record: GenerationRecord) -> tuple[tuple[int, ...], int]:
    """The samples' classes (the greedy answer's left out) and their number."""
    if record.samples is None or record.sample_classes is None:
        raise ValueError(f"{record.task}/{record.id}: the record has no samples")
    return record.sample_classes[1:], len(record.samples)


def _clipped(value: float) -> float:
    """Into [0, 1]: the maps below reach their ends exactly only up to rounding."""
    return min(1.0, max(0.0, value))


def semantic_entropy(probabilities: NDArray[np.float64]) -> float:
    """``-sum p ln p`` of class probabilities (zeros contribute nothing).

    Examples:
        >>> round(semantic_entropy(np.array([0.5, 0.5])), 4)
        0.6931
    """
    positive = probabilities[probabilities > 0]
    return float(-(positive * np.log(positive)).sum())


def _frequencies(record: GenerationRecord) -> NDArray[np.float64]:
    classes, k = _samples(record)
    return np.array(list(Counter(classes).values()), dtype=np.float64) / k


def _likelihoods(record: GenerationRecord) -> NDArray[np.float64]:
    """Each sampled class's share of the summed probability of its distinct answers."""
    classes, _ = _samples(record)
    assert record.samples is not None
    by_class: dict[int, dict[tuple[int, ...], float]] = {}
    for sample, label in zip(record.samples, classes, strict=True):
        by_class.setdefault(label, {})[sample.token_ids] = math.fsum(sample.answer_logprobs)
    totals = np.array([logsumexp(list(answers.values())) for answers in by_class.values()])
    shares: NDArray[np.float64] = np.exp(totals - logsumexp(totals))
    return shares


def _frequency_entropy(record: GenerationRecord) -> float:
    return semantic_entropy(_frequencies(record))


def _likelihood_entropy(record: GenerationRecord) -> float:
    return semantic_entropy(_likelihoods(record))


def _entropy_confidence(entropy: float, k: int) -> float:
    return _clipped(1.0 - entropy / math.log(k))


@generation_method("self-consistency", SAMPLES)
def _self_consistency(record: GenerationRecord) -> float:
    classes, k = _samples(record)
    assert record.sample_classes is not None
    return sum(label == record.sample_classes[0] for label in classes) / k


@generation_method("semantic-entropy", SAMPLES, uncertainty=_frequency_entropy)
def _semantic_entropy_confidence(record: GenerationRecord) -> float:
    return _entropy_confidence(_frequency_entropy(record), _samples(record)[1])


@generation_method("semantic-entropy-lik", SAMPLES, uncertainty=_likelihood_entropy)
def _likelihood_entropy_confidence(record: GenerationRecord) -> float:
    return _entropy_confidence(_likelihood_entropy(record), _samples(record)[1])


def _semantic_sets(record: GenerationRecord) -> float:
    return float(len(set(_samples(record)[0])))


@generation_method("semantic-sets", SAMPLES, uncertainty=_semantic_sets)
def _semantic_sets_confidence(record: GenerationRecord) -> float:
    k = _samples(record)[1]
    return _clipped((k - _semantic_sets(record)) / (k - 1))


@generation_method("lexical-similarity", SAMPLES)
def _lexical_similarity(record: GenerationRecord) -> float:
    assert record.samples is not None
    texts = [sample.text for sample in record.samples]
    pairs = [rouge_l(texts[i], texts[j]) for i in range(len(texts)) for j in range(i + 1, len(texts))]
    return float(np.mean(pairs))


def _laplacian(similarity: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Eigenvalues (increasing) and eigenvectors of ``I - D^-1/2 W D^-1/2``."""
    scale = 1.0 / np.sqrt(similarity.sum(axis=1))  # every degree >= 1: W has ones on its diagonal
    laplacian = np.eye(len(similarity)) - scale[:, None] * similarity * scale[None, :]
    values, vectors = np.linalg.eigh((laplacian + laplacian.T) / 2.0)
    return values, vectors


def eigenvalue_uncertainty(similarity: NDArray[np.float64]) -> float:
    """Lin et al.'s U_EigV: ``sum_k max(0, 1 - lambda_k)`` of the normalised graph Laplacian.

    Examples:
        >>> round(eigenvalue_uncertainty(np.ones((4, 4))), 6), round(eigenvalue_uncertainty(np.eye(4)), 6)
        (1.0, 4.0)
    """
    values, _ = _laplacian(similarity)
    return float(np.clip(1.0 - values, 0.0, None).sum())


def degree_uncertainty(similarity: NDArray[np.float64]) -> float:
    """Lin et al.'s U_Deg: ``trace(K I - D) / K^2``, one minus the mean similarity."""
    k = len(similarity)
    return float((k * k - similarity.sum()) / (k * k))


def eccentricity(similarity: NDArray[np.float64]) -> float:
    """Lin et al.'s U_Ecc: the norm of the samples' spectral embedding, centred on its mean.

    Examples:
        >>> round(eccentricity(np.ones((4, 4))), 6), round(eccentricity(np.eye(4)) ** 2, 6)
        (0.0, 3.0)
    """
    values, vectors = _laplacian(similarity)
    embedding = vectors[:, values < ECCENTRICITY_THRESHOLD]
    return float(np.linalg.norm(embedding - embedding.mean(axis=0)))


def _graph(record: GenerationRecord) -> NDArray[np.float64]:
    assert record.samples is not None
    return _jaccard_graph(tuple(sample.text for sample in record.samples))


# The three spectral methods, each as a confidence and an uncertainty, read one record's graph in turn:
# built once, not six times (K^2 word-set comparisons each).
@functools.lru_cache(maxsize=32)
def _jaccard_graph(texts: tuple[str, ...]) -> NDArray[np.float64]:
    graph = similarity_matrix(texts, jaccard)
    graph.flags.writeable = False  # shared between callers through the cache
    return graph


def _eigv(record: GenerationRecord) -> float:
    return eigenvalue_uncertainty(_graph(record))


def _degree(record: GenerationRecord) -> float:
    return degree_uncertainty(_graph(record))


def _eccentricity(record: GenerationRecord) -> float:
    return eccentricity(_graph(record))


@generation_method("eigv", SAMPLES, uncertainty=_eigv)
def _eigv_confidence(record: GenerationRecord) -> float:
    k = _samples(record)[1]
    return _clipped((k - _eigv(record)) / (k - 1))


@generation_method("degree", SAMPLES, uncertainty=_degree)
def _degree_confidence(record: GenerationRecord) -> float:
    k = _samples(record)[1]
    return _clipped(1.0 - _degree(record) / (1.0 - 1.0 / k))


@generation_method("eccentricity", SAMPLES, uncertainty=_eccentricity)
def _eccentricity_confidence(record: GenerationRecord) -> float:
    k = _samples(record)[1]
    return _clipped(1.0 - _eccentricity(record) / math.sqrt(k - 1))
