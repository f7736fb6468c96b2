"""Built-in benchmarks: where each lives on the Hugging Face hub and how its rows become items.

Importing this module registers one :class:`~llmcal.tasks.spec.TaskSpec` per benchmark in
:data:`~llmcal.tasks.spec.TASKS`. Hub ids, configs, splits, the derivation of choices and answers and any
text preprocessing follow lm-evaluation-harness's task definitions, so accuracies are comparable with
numbers it reports: the evaluated split is ``test`` where it is labelled and ``validation`` otherwise,
and few-shot examples come from ``train`` (MMLU: ``dev``), as the harness does.

Each converter takes a row in the dataset's own hub schema and returns a schema record
(:mod:`llmcal.tasks.schema`), ``None`` for a row without a label (unlabelled test rows), or raises
:class:`~llmcal.tasks.schema.ItemFieldError` naming the offending field of a malformed row.

Ids are the dataset's own id field where it has one; otherwise the row index, which is stable for a
given split of a given dataset revision.

Why it is long: it is a catalogue, one spec and converter per benchmark, each a few lines; one module holds
them so each can be read against lm-evaluation-harness's definition of the same task.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from llmcal.tasks.loading import RowConverter, answer_list
from llmcal.tasks.mmlu_subjects import MMLU_CATEGORIES, MMLU_SUBJECTS, MMLUCategory
from llmcal.tasks.schema import ItemFieldError
from llmcal.tasks.spec import SHORT_ANSWER_STOP, TASKS, TaskSpec

__all__ = [
    "convert_arc",
    "convert_boolq",
    "convert_commonsense_qa",
    "convert_hellaswag",
    "convert_hotpotqa",
    "convert_medmcqa",
    "convert_nq_open",
    "convert_openbookqa",
    "convert_piqa",
    "convert_sciq",
    "convert_triviaqa",
    "convert_winogrande",
    "hellaswag_preprocess",
    "mmlu_converter",
]


def _field(row: dict[str, Any], name: str) -> Any:
    if name not in row:
        raise ItemFieldError(name, f"missing (row has {sorted(row)})")
    return row[name]


def _text(row: dict[str, Any], name: str) -> str:
    value = _field(row, name)
    if not isinstance(value, str):
        raise ItemFieldError(name, f"expected a string; found {type(value).__name__} {value!r}")
    return value


def _integer(row: dict[str, Any], name: str) -> int:
    value = _field(row, name)
    # bool is an int subclass; a True here means the wrong column, not the index 1.
    if isinstance(value, bool) or not isinstance(value, int):
        raise ItemFieldError(name, f"expected an integer; found {type(value).__name__} {value!r}")
    return value


def _labelled_choices(row: dict[str, Any]) -> tuple[list[Any], int] | None:
    """Choices and gold index of the ARC-style ``choices: {text, label}`` + ``answerKey`` layout.

    Labels are letters (``A``-``E``) in most rows but digits (``1``-``5``) in some ARC rows, so the
    answer is looked up among the row's own labels rather than converted from a letter.
    """
    # OpenBookQA keys can carry stray whitespace (lm-evaluation-harness strips them too).
    key = _text(row, "answerKey").strip()
    if not key:
        return None  # unlabelled (e.g. CommonsenseQA's test split)
    choices = _field(row, "choices")
    texts = choices.get("text") if isinstance(choices, dict) else None
    labels = choices.get("label") if isinstance(choices, dict) else None
    if not isinstance(texts, list) or not isinstance(labels, list):
        raise ItemFieldError("choices", f"expected {{'text': [...], 'label': [...]}}; found {choices!r}")
    if len(texts) != len(labels):
        raise ItemFieldError("choices", f"{len(texts)} texts but {len(labels)} labels")
    if key not in labels:
        raise ItemFieldError("answerKey", f"{key!r} is not one of the choice labels {labels}")
    return list(texts), labels.index(key)


def convert_arc(row: dict[str, Any], index: int) -> dict[str, Any] | None:
    """``allenai/ai2_arc`` (ARC-Easy / ARC-Challenge): ``id``, ``question``, ``choices``, ``answerKey``."""
    labelled = _labelled_choices(row)
    if labelled is None:
        return None
    choices, answer = labelled
    return {"id": _text(row, "id"), "question": _text(row, "question"), "choices": choices, "answer": answer}


def convert_openbookqa(row: dict[str, Any], index: int) -> dict[str, Any] | None:
    """``allenai/openbookqa`` (main): ``id``, ``question_stem``, ``choices``, ``answerKey``."""
    labelled = _labelled_choices(row)
    if labelled is None:
        return None
    choices, answer = labelled
    return {
        "id": _text(row, "id"),
        "question": _text(row, "question_stem"),
        "choices": choices,
        "answer": answer,
    }


def convert_commonsense_qa(row: dict[str, Any], index: int) -> dict[str, Any] | None:
    """``tau/commonsense_qa``: ``id``, ``question``, ``choices``, ``answerKey`` (empty on test rows)."""
    labelled = _labelled_choices(row)
    if labelled is None:
        return None
    choices, answer = labelled
    return {
        "id": _text(row, "id"),
        "question": _text(row, "question").strip(),
        "choices": choices,
        "answer": answer,
    }


def mmlu_converter(*, category: MMLUCategory | None = None, subject: str | None = None) -> RowConverter:
    """A converter for ``cais/mmlu`` rows: ``question``, ``subject``, ``choices`` (4), ``answer`` (0-3).

    Args:
        category: Keep only rows whose subject is in this category (the group tasks read config
            ``all`` and filter, so their ids are the ``mmlu`` task's ids).
        subject: The subject to use when a row's ``subject`` is empty (single-subject configs).
    """

    def convert(row: dict[str, Any], index: int) -> dict[str, Any] | None:
        row_subject = row.get("subject") or subject
        if not isinstance(row_subject, str) or row_subject not in MMLU_SUBJECTS:
            raise ItemFieldError("subject", f"expected one of the 57 MMLU subjects; found {row_subject!r}")
        if category is not None and MMLU_SUBJECTS[row_subject] != category:
            return None
        return {
            "id": f"{index}",
            # lm-evaluation-harness strips the question; some end in a newline.
            "question": _text(row, "question").strip(),
            "choices": _field(row, "choices"),
            "answer": _integer(row, "answer"),
            "subject": row_subject,
        }

    return convert


def _stable_permutation(key: str, size: int) -> list[int]:
    """A permutation of ``range(size)`` that depends only on ``key``.

    Positions are ordered by a SHA-256 digest of ``key`` and the position, so the order is the same in
    every process, on every machine and in every Python version (``hash()`` is salted per process and
    ``random``'s algorithms are not guaranteed across versions).
    """
    return sorted(range(size), key=lambda position: hashlib.sha256(f"{position}\0{key}".encode()).digest())


def convert_sciq(row: dict[str, Any], index: int) -> dict[str, Any]:
    """``allenai/sciq``: ``question``, ``distractor1..3``, ``correct_answer``, ``support`` (passage).

    lm-evaluation-harness lists the options as ``[distractor1, distractor2, distractor3, correct_answer]``,
    so the gold option is always last. That is harmless for cloze scoring, which scores every option on
    its own, but in the letters format a model could score well by always answering "D", and a
    calibration run would measure that bias instead of the model's knowledge. The options are therefore
    put in a per-item order derived from the question text: deterministic (the same ids, order and
    answers on every load, so runs can be resumed and compared) and spreading the gold position evenly.
    """
    question = _text(row, "question")
    options = [
        _text(row, "distractor1"),
        _text(row, "distractor2"),
        _text(row, "distractor3"),
        _text(row, "correct_answer"),
    ]
    order = _stable_permutation(question, len(options))
    record: dict[str, Any] = {
        "id": f"{index}",
        "question": question,
        "choices": [options[position] for position in order],
        "answer": order.index(len(options) - 1),
    }
    # Some rows have no supporting passage (an empty string); those get no context at all.
    support = _text(row, "support").strip()
    if support:
        record["context"] = support
    return record


def convert_medmcqa(row: dict[str, Any], index: int) -> dict[str, Any] | None:
    """``openlifescienceai/medmcqa``: ``id``, ``question``, ``opa..opd``, ``cop`` (0-3, -1 on test rows)."""
    cop = _integer(row, "cop")
    if cop == -1:
        return None
    if not 0 <= cop <= 3:
        raise ItemFieldError("cop", f"expected 0-3 (or -1 for unlabelled); found {cop}")
    record: dict[str, Any] = {
        "id": _text(row, "id"),
        "question": _text(row, "question"),
        "choices": [_text(row, name) for name in ("opa", "opb", "opc", "opd")],
        "answer": cop,
    }
    subject = row.get("subject_name")
    if isinstance(subject, str) and subject.strip():
        record["subject"] = subject.strip()
    return record


def convert_piqa(row: dict[str, Any], index: int) -> dict[str, Any] | None:
    """PIQA: ``goal``, ``sol1``, ``sol2``, ``label`` (0/1, -1 on test rows)."""
    label = _integer(row, "label")
    if label == -1:
        return None
    if label not in (0, 1):
        raise ItemFieldError("label", f"expected 0 or 1 (or -1 for unlabelled); found {label}")
    return {
        "id": f"{index}",
        "question": _text(row, "goal"),
        "choices": [_text(row, "sol1"), _text(row, "sol2")],
        "answer": label,
    }


_BRACKETED = re.compile(r"\[.*?\]")


def hellaswag_preprocess(text: str) -> str:
    """HellaSwag's cleanup of WikiHow artefacts, with lm-evaluation-harness's exact rules.

    Strips the text, turns ``" [title]"`` into ``". "``, drops other bracketed tags (``[header]``,
    ``[step]``, ...) and collapses double spaces once (a single pass, as the harness does, so scores stay
    comparable with its numbers).

    Examples:
        >>> hellaswag_preprocess("Cleaning [title] Wash the car. [step] Rinse  it. ")
        'Cleaning. Wash the car. Rinse it.'
    """
    text = text.strip().replace(" [title]", ". ")
    text = _BRACKETED.sub("", text)
    return text.replace("  ", " ")


def convert_hellaswag(row: dict[str, Any], index: int) -> dict[str, Any] | None:
    """``Rowan/hellaswag``: ``activity_label``, ``ctx_a``, ``ctx_b``, ``endings``, ``label`` (a string).

    The question is the start of the text each ending continues (cloze style ``completion``).
    """
    raw_label = _field(row, "label")
    if isinstance(raw_label, str):
        if not raw_label.strip():
            return None  # test rows have the empty string
        if not raw_label.strip().isdigit():
            raise ItemFieldError("label", f"expected a digit string; found {raw_label!r}")
        label = int(raw_label)
    elif isinstance(raw_label, int) and not isinstance(raw_label, bool):
        label = raw_label
    else:
        raise ItemFieldError("label", f"expected a digit string; found {type(raw_label).__name__}")
    endings = _field(row, "endings")
    if not isinstance(endings, list) or not all(isinstance(ending, str) for ending in endings):
        raise ItemFieldError("endings", f"expected a list of strings; found {endings!r}")
    # str.capitalize also lowercases the rest of ctx_b; the harness does the same.
    context = _text(row, "ctx_a") + " " + _text(row, "ctx_b").capitalize()
    return {
        # The row index, not ``ind``: the card does not promise ``ind`` is unique within a split, and a
        # duplicate id would make the whole task fail to load.
        "id": f"{index}",
        "question": hellaswag_preprocess(_text(row, "activity_label") + ": " + context),
        "choices": [hellaswag_preprocess(ending) for ending in endings],
        "answer": label,
    }


def convert_boolq(row: dict[str, Any], index: int) -> dict[str, Any]:
    """``google/boolq``: ``question`` (lower case, no "?"), ``answer`` (bool), ``passage``."""
    answer = _field(row, "answer")
    if not isinstance(answer, bool):
        raise ItemFieldError("answer", f"expected a boolean; found {type(answer).__name__} {answer!r}")
    return {
        "id": f"{index}",
        # The questions carry no question mark; the harness's prompt adds one.
        "question": _text(row, "question") + "?",
        "choices": ["no", "yes"],
        "answer": int(answer),
        "context": _text(row, "passage"),
    }


_WINOGRANDE_ANSWERS = {"1": 0, "2": 1}


def convert_winogrande(row: dict[str, Any], index: int) -> dict[str, Any] | None:
    """``allenai/winogrande``: ``sentence`` (with a ``_``), ``option1``, ``option2``, ``answer`` "1"/"2"."""
    answer = _text(row, "answer").strip()
    if not answer:
        return None  # test rows have the empty string
    if answer not in _WINOGRANDE_ANSWERS:
        raise ItemFieldError("answer", f"expected '1' or '2' (or '' for unlabelled); found {answer!r}")
    sentence = _text(row, "sentence")
    # Checked here so a bad row is reported at load time, naming the field, not when it is scored.
    if sentence.count("_") != 1:
        raise ItemFieldError("sentence", f"expected exactly one '_' blank; found {sentence.count('_')}")
    return {
        "id": f"{index}",
        "question": sentence,
        "choices": [_text(row, "option1"), _text(row, "option2")],
        "answer": _WINOGRANDE_ANSWERS[answer],
    }


def convert_nq_open(row: dict[str, Any], index: int) -> dict[str, Any]:
    """``google-research-datasets/nq_open``: ``question`` (no question mark) and ``answer`` (a list)."""
    return {
        "id": f"{index}",
        # The questions carry no question mark; the harness's prompt adds one.
        "question": _text(row, "question") + "?",
        "answers": answer_list(_field(row, "answer"), "answer"),
    }


def convert_triviaqa(row: dict[str, Any], index: int) -> dict[str, Any]:
    """``mandarjoshi/trivia_qa`` (``rc.nocontext``): ``question_id``, ``question``, ``answer`` (an object).

    The accepted answers are ``answer.value`` and ``answer.aliases``, as the harness's are the aliases.
    """
    answer = _field(row, "answer")
    if not isinstance(answer, dict):
        raise ItemFieldError("answer", f"expected an object with 'value' and 'aliases'; found {answer!r}")
    return {
        "id": _text(row, "question_id"),
        "question": _text(row, "question").rstrip("?") + "?",
        "answers": answer_list({"value": answer.get("value"), "aliases": answer.get("aliases")}, "answer"),
    }


def convert_hotpotqa(row: dict[str, Any], index: int) -> dict[str, Any]:
    """``hotpotqa/hotpot_qa`` (``distractor``), closed-book: ``id``, ``question``, ``answer``, ``type``, ...

    As CogCalib evaluates it, the model answers from what it knows: the paragraphs are not shown.
    ``type`` (bridge or comparison) is the subject and ``level`` is kept as metadata.
    """
    return {
        "id": _text(row, "id"),
        "question": _text(row, "question"),
        "answers": answer_list(_field(row, "answer"), "answer"),
        "subject": _text(row, "type"),
        "level": _text(row, "level"),
    }


def _add(spec: TaskSpec) -> None:
    TASKS.add(spec.name, spec)


_CATEGORY_TITLES: dict[MMLUCategory, str] = {
    "stem": "STEM",
    "humanities": "humanities",
    "social_sciences": "social sciences",
    "other": "other (business, health, misc.)",
}

_add(
    TaskSpec(
        name="mmlu",
        hf_path="cais/mmlu",
        hf_config="all",
        split="test",
        fewshot_split="dev",
        convert=mmlu_converter(),
        description="MMLU: 57 subjects of academic and professional knowledge, 4 options.",
    )
)
for _category in MMLU_CATEGORIES:
    _add(
        TaskSpec(
            name=f"mmlu_{_category}",
            hf_path="cais/mmlu",
            hf_config="all",
            split="test",
            fewshot_split="dev",
            convert=mmlu_converter(category=_category),
            description=f"MMLU, {_CATEGORY_TITLES[_category]} subjects only.",
        )
    )
for _subject, _category in MMLU_SUBJECTS.items():
    _add(
        TaskSpec(
            name=f"mmlu_{_subject}",
            hf_path="cais/mmlu",
            hf_config=_subject,
            split="test",
            fewshot_split="dev",
            convert=mmlu_converter(subject=_subject),
            description=f"MMLU, {_subject.replace('_', ' ')} ({_CATEGORY_TITLES[_category]}).",
        )
    )
for _name, _config, _level in (
    ("arc_easy", "ARC-Easy", "Easy"),
    ("arc_challenge", "ARC-Challenge", "Challenge"),
):
    _add(
        TaskSpec(
            name=_name,
            hf_path="allenai/ai2_arc",
            hf_config=_config,
            split="test",
            fewshot_split="train",
            convert=convert_arc,
            description=f"ARC-{_level}: grade-school science questions, 3-5 options.",
        )
    )
_add(
    TaskSpec(
        name="openbookqa",
        hf_path="allenai/openbookqa",
        hf_config="main",
        split="test",
        fewshot_split="train",
        convert=convert_openbookqa,
        # The harness scores "question_stem option" with no "Question:/Answer:" frame.
        cloze_style="completion",
        description="OpenBookQA: elementary science needing a core fact plus common knowledge, 4 options.",
    )
)
_add(
    TaskSpec(
        name="sciq",
        hf_path="allenai/sciq",
        hf_config=None,
        split="test",
        fewshot_split="train",
        convert=convert_sciq,
        description="SciQ: crowd-sourced science exam questions with a support passage, 4 options.",
    )
)
_add(
    TaskSpec(
        name="commonsense_qa",
        hf_path="tau/commonsense_qa",
        hf_config=None,
        # The test split has no answer keys.
        split="validation",
        fewshot_split="train",
        convert=convert_commonsense_qa,
        description="CommonsenseQA: questions needing everyday commonsense knowledge, 5 options.",
    )
)
_add(
    TaskSpec(
        name="medmcqa",
        hf_path="openlifescienceai/medmcqa",
        hf_config=None,
        # The test split is unlabelled (cop = -1).
        split="validation",
        fewshot_split="train",
        convert=convert_medmcqa,
        description="MedMCQA: Indian medical entrance exam questions (AIIMS, NEET PG), 4 options.",
    )
)
_add(
    TaskSpec(
        name="piqa",
        # The original ybisk/piqa is a loading script, which datasets >= 4 refuses to run; this is the
        # Parquet copy with the same fields that lm-evaluation-harness reads.
        hf_path="baber/piqa",
        hf_config=None,
        split="validation",
        fewshot_split="train",
        convert=convert_piqa,
        description="PIQA: physical commonsense, pick the better of 2 solutions to a goal.",
    )
)
_add(
    TaskSpec(
        name="hellaswag",
        hf_path="Rowan/hellaswag",
        hf_config=None,
        split="validation",
        fewshot_split="train",
        convert=convert_hellaswag,
        cloze_style="completion",
        description="HellaSwag: pick the most plausible continuation of an event description, 4 options.",
    )
)
_add(
    TaskSpec(
        name="boolq",
        hf_path="google/boolq",
        hf_config=None,
        split="validation",
        fewshot_split="train",
        convert=convert_boolq,
        description="BoolQ: yes/no questions about a Wikipedia passage.",
    )
)
_add(
    TaskSpec(
        name="winogrande",
        hf_path="allenai/winogrande",
        hf_config="winogrande_xl",
        split="validation",
        fewshot_split="train",
        convert=convert_winogrande,
        cloze_style="partial",
        description="WinoGrande (xl): fill the blank with one of 2 people or things, scored after the blank.",
    )
)
_add(
    TaskSpec(
        name="nq_open",
        hf_path="google-research-datasets/nq_open",
        hf_config=None,
        split="validation",
        fewshot_split="train",
        convert=convert_nq_open,
        description="Natural Questions (open): real search questions, answered in the model's own words.",
        kind="open",
        stop=SHORT_ANSWER_STOP,
    )
)
_add(
    TaskSpec(
        name="triviaqa",
        hf_path="mandarjoshi/trivia_qa",
        hf_config="rc.nocontext",
        split="validation",
        fewshot_split="train",
        convert=convert_triviaqa,
        description="TriviaQA (no context): trivia questions, answered in the model's own words.",
        kind="open",
        stop=SHORT_ANSWER_STOP,
    )
)
_add(
    TaskSpec(
        name="hotpotqa",
        hf_path="hotpotqa/hotpot_qa",
        hf_config="distractor",
        split="validation",
        fewshot_split="train",
        convert=convert_hotpotqa,
        description="HotpotQA (closed-book): multi-hop questions, answered in the model's own words.",
        kind="open",
    )
)
