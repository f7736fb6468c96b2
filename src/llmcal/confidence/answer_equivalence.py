"""When two answers say the same thing: normalised equality aware of a task's aliases, or an NLI model.

Methods over samples (:mod:`llmcal.confidence.sample_methods`) group a question's answers into classes of
equal meaning. The default equivalence (:class:`AliasMatch`) is textual: two answers are equivalent when
their normalised texts are equal (:func:`~llmcal.tasks.answers.normalize_answer`), or when both are
accepted answers of one item of the task: aliases of one entity (``"USA"`` and ``"United States"``).
Given an NLI model, :class:`BidirectionalEntailment` is Kuhn et al.'s (2023): two answers are equivalent
when each, after the question, entails the other; an answer joins the first class whose first member it
is equivalent to, else starts its own (answers with equal normalised texts are one answer to it).

**Why the whole task's aliases, not the item's own.** An item's own accepted answers would merge the
aliases of a *right* answer and never those of a wrong one, making right answers look more consistent than
they are: the gold answer would leak into the uncertainty. The task's alias table treats every answer the
task knows alike, right or wrong for this item (a wrong capital is usually another item's right one).
Answers outside the table merge only when their normalised texts are equal.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from llmcal.tasks.answers import normalize_answer

__all__ = [
    "AliasMatch",
    "AliasTable",
    "BidirectionalEntailment",
    "EntailmentJudge",
    "Equivalence",
    "equivalence_classes",
]


@dataclass(frozen=True)
class AliasTable:
    """Normalised accepted answers of a task, each to the group of aliases it belongs to.

    Attributes:
        groups: Normalised alias -> group number; aliases of one item share a number, and items whose
            alias lists overlap are merged into one group.
    """

    groups: Mapping[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, answer_sets: Iterable[Sequence[str]]) -> AliasTable:
        """The table of every item's accepted answers (``answer_sets``: one sequence per item).

        Examples:
            >>> table = AliasTable.of([("USA", "United States"), ("Paris",), ("U.S.A", "America")])
            >>> table.group("the United States") == table.group("america")
            True
            >>> table.group("Paris") == table.group("USA"), table.group("Lyon")
            (False, None)
        """
        parent: dict[str, str] = {}

        def root(name: str) -> str:
            while parent[name] != name:
                parent[name] = parent[parent[name]]
                name = parent[name]
            return name

        for answers in answer_sets:
            normalised = [text for text in (normalize_answer(answer) for answer in answers) if text]
            for text in normalised:
                parent.setdefault(text, text)
            for text in normalised[1:]:
                parent[root(text)] = root(normalised[0])
        roots: dict[str, int] = {}
        groups = {text: roots.setdefault(root(text), len(roots)) for text in sorted(parent)}
        return cls(groups)

    def group(self, text: str) -> int | None:
        """The alias group ``text`` (normalised first) belongs to, or ``None`` if no item accepts it."""
        return self.groups.get(normalize_answer(text))


def equivalence_classes(texts: Sequence[str], aliases: AliasTable = AliasTable()) -> tuple[int, ...]:
    """Class numbers of ``texts``, equal for equivalent answers, numbered in order of first appearance.

    Examples:
        >>> equivalence_classes(["Paris", " paris.", "Lyon", "The Paris"])
        (0, 0, 1, 0)
        >>> equivalence_classes(["USA", "United States", "Canada"], AliasTable.of([("USA", "United States")]))
        (0, 0, 1)
    """
    numbers: dict[tuple[str, object], int] = {}
    classes = []
    for text in texts:
        group = aliases.group(text)
        key: tuple[str, object] = ("alias", group) if group is not None else ("text", normalize_answer(text))
        classes.append(numbers.setdefault(key, len(numbers)))
    return tuple(classes)


class Equivalence(Protocol):
    """Groups each question's answers into classes of equal meaning."""

    def classes(self, questions: Sequence[str], answers: Sequence[Sequence[str]]) -> list[tuple[int, ...]]:
        """Per question, the class number of each of its answers, numbered in order of first appearance."""
        ...


@dataclass(frozen=True)
class AliasMatch:
    """Normalised equality, aliases of one item of the task counting as one answer."""

    aliases: AliasTable = field(default_factory=AliasTable)

    def classes(self, questions: Sequence[str], answers: Sequence[Sequence[str]]) -> list[tuple[int, ...]]:
        """:func:`equivalence_classes` of each question's answers."""
        return [equivalence_classes(texts, self.aliases) for texts in answers]


class EntailmentJudge(Protocol):
    """Says whether each premise entails its hypothesis (:class:`~llmcal.scoring.nli.NliModel`)."""

    def entails(self, pairs: Sequence[tuple[str, str]]) -> list[bool]:
        """One verdict per (premise, hypothesis) pair."""
        ...


@dataclass(frozen=True)
class BidirectionalEntailment:
    """Kuhn et al.'s semantic equivalence: each answer, after the question, entails the other.

    Every ordered pair of a question's distinct answers is judged in one batch over all the questions.
    """

    judge: EntailmentJudge

    def classes(self, questions: Sequence[str], answers: Sequence[Sequence[str]]) -> list[tuple[int, ...]]:
        """Per question, its answers' classes by bidirectional entailment."""
        distinct = [list(dict.fromkeys(normalize_answer(text) for text in texts)) for texts in answers]
        pairs = [
            (f"{question} {first}", f"{question} {second}")
            for question, texts in zip(questions, distinct, strict=True)
            for first in texts
            for second in texts
            if first != second
        ]
        verdicts = iter(self.judge.entails(pairs))
        results = []
        for texts, originals in zip(distinct, answers, strict=True):
            entails = {(a, b): next(verdicts) for a in texts for b in texts if a != b}
            leaders: list[str] = []  # each class's first member
            class_of: dict[str, int] = {}
            for text in texts:
                joined = next(
                    (
                        number
                        for number, leader in enumerate(leaders)
                        if entails[(text, leader)] and entails[(leader, text)]
                    ),
                    None,
                )
                if joined is None:
                    joined = len(leaders)
                    leaders.append(text)
                class_of[text] = joined
            results.append(tuple(class_of[normalize_answer(text)] for text in originals))
        return results
