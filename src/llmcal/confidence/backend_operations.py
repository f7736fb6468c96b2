"""What confidence methods ask of a backend, checked against what it can do before a run starts.

Multiple-choice methods score options; generation methods generate the answer, and their pass may score
(P(True)) or generate (verbalised confidence) once more. A backend that cannot do one of these (a server
without prompt log-probabilities) says so (:func:`llmcal.scoring.requests.unavailable_operations`), and a run
needing it is refused before anything is written, naming the methods it could run instead.
"""

from __future__ import annotations

from llmcal.confidence.extraction import ExtractionSettings
from llmcal.confidence.generation_extraction import GenerationSettings
from llmcal.confidence.generation_methods import GENERATION_METHODS
from llmcal.errors import InputError
from llmcal.scoring.requests import BackendOperation, ScoringBackend, unavailable_operations

__all__ = ["check_backend_operations", "operations_needed"]


def operations_needed(
    settings: ExtractionSettings | GenerationSettings,
) -> dict[str, frozenset[BackendOperation]]:
    """What each confidence method of ``settings`` asks of the backend, by method name."""
    generate: frozenset[BackendOperation] = frozenset({"generate"})
    if isinstance(settings, GenerationSettings):
        return {
            method: generate | GENERATION_METHODS.get(method).needs.operations for method in settings.methods
        }
    score: frozenset[BackendOperation] = frozenset({"score"})
    return dict.fromkeys(settings.methods, score)


def check_backend_operations(
    settings: ExtractionSettings | GenerationSettings, backend: ScoringBackend
) -> None:
    """Checks that the backend can do what every chosen method needs, before anything is written.

    Raises:
        InputError: Naming the methods it cannot run and why (a server without prompt log-probabilities),
            and the methods it can.
    """
    unavailable = unavailable_operations(backend)
    if not unavailable:
        return
    needed = operations_needed(settings)
    blocked = {method: sorted(ops & unavailable.keys()) for method, ops in needed.items()}
    refused = [method for method, ops in blocked.items() if ops]
    if refused:
        reasons = "; ".join(
            f"cannot {op}: {unavailable[op]}" for op in sorted({o for m in refused for o in blocked[m]})
        )
        possible = [method for method in needed if method not in refused]
        raise InputError(
            f"The backend cannot run the `methods` {', '.join(refused)} ({reasons}). "
            + (
                f"Run only {','.join(possible)} with this backend (`methods`), or use one that can."
                if possible
                else "No method of these tasks can run on it; use a server that gives log-probabilities "
                "(vLLM), or the in-process backend."
            ),
            parameter="methods",
        )
