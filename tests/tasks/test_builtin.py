"""Built-in task specs, loaded offline from small fixtures in each dataset's real hub schema and layout."""

from __future__ import annotations

import importlib.util
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import datasets
import pytest

import llmcal.tasks.builtin  # registers the specs
from llmcal.errors import InputError
from llmcal.tasks.mmlu_subjects import MMLU_CATEGORIES, MMLU_SUBJECTS, mmlu_category
from llmcal.tasks.prompts import option_pairs
from llmcal.tasks.schema import MCItem
from llmcal.tasks.spec import TASKS, TaskSpec, load_task
from tests.tasks.hub_fixtures import DEFAULT_CONFIG, write_hub_dataset

FAMILIES = [
    "mmlu",
    "mmlu_stem",
    "mmlu_humanities",
    "mmlu_social_sciences",
    "mmlu_other",
    "arc_easy",
    "arc_challenge",
    "openbookqa",
    "sciq",
    "commonsense_qa",
    "medmcqa",
    "piqa",
    "hellaswag",
    "boolq",
    "winogrande",
]


@pytest.fixture(scope="module", autouse=True)
def _private_datasets_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    # `datasets` caches every prepared split; keep the fixtures' copies out of the user's cache.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path_factory.mktemp("hf-cache"))
        yield


def _load(name: str, root: Path, split: str | None = None) -> list[MCItem]:
    return load_task(TASKS.get(name), path=str(root), split=split)


def _by_id(items: list[MCItem]) -> dict[str, MCItem]:
    return {item.id: item for item in items}


def _lettered(texts: list[str], labels: list[str] | None = None) -> dict[str, list[str]]:
    return {"text": texts, "label": labels or list("ABCDE"[: len(texts)])}


# --- MMLU ------------------------------------------------------------------------------------------


def _mmlu_row(subject: str, question: str, answer: int) -> dict[str, Any]:
    return {"question": question, "subject": subject, "choices": ["w", "x", "y", "z"], "answer": answer}


MMLU_TEST = [
    _mmlu_row("abstract_algebra", "Find the degree of Q(sqrt(2)) over Q.", 1),
    _mmlu_row("anatomy", "Which bone is the longest in the human body?\n", 0),
    _mmlu_row("jurisprudence", "Which theorist wrote The Concept of Law?", 2),
    _mmlu_row("econometrics", "What does a Durbin-Watson statistic near 2 suggest?", 3),
    _mmlu_row("virology", "Which virus causes shingles?", 1),
    _mmlu_row("high_school_us_history", "Which event began in 1861?", 0),
]


@pytest.fixture(scope="module")
def mmlu_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    anatomy = [row for row in MMLU_TEST if row["subject"] == "anatomy"]
    return write_hub_dataset(
        tmp_path_factory.mktemp("mmlu"),
        {
            "all": {"test": MMLU_TEST, "dev": MMLU_TEST[:2]},
            "anatomy": {"test": [*anatomy, _mmlu_row("anatomy", "Where is the tibia?", 3)], "dev": anatomy},
        },
    )


def test_mmlu_all_keeps_every_subject_and_strips_questions(mmlu_dir: Path) -> None:
    items = _load("mmlu", mmlu_dir)
    assert len(items) == 6
    assert {item.subject for item in items} == {row["subject"] for row in MMLU_TEST}
    anatomy = items[1]
    assert anatomy == MCItem(
        id="1",
        question="Which bone is the longest in the human body?",
        choices=("w", "x", "y", "z"),
        answer=0,
        subject="anatomy",
    )
    assert [item.answer for item in items] == [row["answer"] for row in MMLU_TEST]
    assert len(_load("mmlu", mmlu_dir, split=TASKS.get("mmlu").fewshot_split)) == 2


def test_mmlu_groups_keep_only_their_category_with_the_mmlu_ids(mmlu_dir: Path) -> None:
    stem = _load("mmlu_stem", mmlu_dir)
    assert {item.subject for item in stem} == {"abstract_algebra", "anatomy"}
    assert [item.id for item in stem] == ["0", "1"]
    assert {item.subject for item in _load("mmlu_humanities", mmlu_dir)} == {
        "jurisprudence",
        "high_school_us_history",
    }
    assert [item.subject for item in _load("mmlu_social_sciences", mmlu_dir)] == ["econometrics"]
    assert [item.subject for item in _load("mmlu_other", mmlu_dir)] == ["virology"]


def test_mmlu_subject_task_reads_its_own_config(mmlu_dir: Path) -> None:
    spec = TASKS.get("mmlu_anatomy")
    assert (spec.hf_path, spec.hf_config, spec.split, spec.fewshot_split) == (
        "cais/mmlu",
        "anatomy",
        "test",
        "dev",
    )
    items = load_task(spec, path=str(mmlu_dir))
    assert [item.question for item in items] == [
        "Which bone is the longest in the human body?",
        "Where is the tibia?",
    ]
    assert {item.subject for item in items} == {"anatomy"}


def test_mmlu_unknown_subject_names_the_field(tmp_path: Path) -> None:
    root = write_hub_dataset(tmp_path, {"all": {"test": [_mmlu_row("astrology", "Is it science?", 0)]}})
    with pytest.raises(InputError, match=r"field 'subject'.*astrology"):
        _load("mmlu", root)


def _lm_eval_tasks_folder() -> Path:
    """lm-evaluation-harness's task definitions, found without importing the (heavy) package."""
    spec = importlib.util.find_spec("lm_eval")
    # lm-eval is a dev dependency: the cross-checks against it must run, never skip.
    assert spec is not None, "lm-evaluation-harness is not installed (pip install -e '.[dev]')"
    assert spec.origin is not None
    return Path(spec.origin).parent / "tasks"


def _lm_eval_module(relative: str) -> Any:
    path = _lm_eval_tasks_folder() / relative
    spec = importlib.util.spec_from_file_location(f"lm_eval_reference_{path.stem}", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _lm_eval_mmlu_grouping() -> dict[str, str]:
    """Subject -> category read from lm-evaluation-harness's own task YAMLs."""
    folder = _lm_eval_tasks_folder() / "mmlu" / "default"
    grouping = {}
    for path in sorted(folder.glob("mmlu_*.yaml")):
        text = path.read_text(encoding="utf-8")
        subject = re.search(r'"dataset_name": "(\w+)"', text)
        tag = re.search(r'"tag": "mmlu_(\w+)_tasks"', text)
        assert subject, path
        assert tag, path
        grouping[subject.group(1)] = tag.group(1)
    return grouping


def test_mmlu_subjects_match_lm_evaluation_harness() -> None:
    assert len(MMLU_SUBJECTS) == 57
    assert Counter(MMLU_SUBJECTS.values()) == {
        "stem": 19,
        "humanities": 13,
        "social_sciences": 12,
        "other": 13,
    }
    assert set(MMLU_CATEGORIES) == set(MMLU_SUBJECTS.values())
    assert dict(MMLU_SUBJECTS) == _lm_eval_mmlu_grouping()
    assert mmlu_category("machine_learning") == "stem"
    with pytest.raises(InputError, match="Did you mean: anatomy"):
        mmlu_category("anatomi")


def test_every_mmlu_subject_has_a_task() -> None:
    for subject in MMLU_SUBJECTS:
        spec = TASKS.get(f"mmlu_{subject}")
        assert (spec.hf_path, spec.hf_config, spec.split) == ("cais/mmlu", subject, "test")
        assert subject.replace("_", " ") in spec.description


# --- ARC, OpenBookQA, CommonsenseQA (choices {text, label} + answerKey) -------------------------------

ARC_EASY_TEST = [
    {
        "id": "Mercury_7175875",
        "question": "An astronomer observes that a planet rotates faster after a meteorite impact. "
        "Which is the most likely effect of this increase in rotation?",
        "choices": _lettered(
            [
                "Planetary density will decrease.",
                "Planetary years will become longer.",
                "Planetary days will become shorter.",
                "Planetary gravity will become stronger.",
            ]
        ),
        "answerKey": "C",
    },
    {
        "id": "NYSEDREGENTS_2015_4_7",
        "question": "Which tool is used to measure the mass of a rock?",
        "choices": _lettered(["ruler", "balance", "thermometer", "graduated cylinder"], ["1", "2", "3", "4"]),
        "answerKey": "2",
    },
    {
        "id": "Mercury_SC_400001",
        "question": "Which of these is a renewable resource?",
        "choices": _lettered(["coal", "wind", "oil"]),
        "answerKey": "B",
    },
    {
        "id": "MCAS_2000_4_6",
        "question": "Which part of a plant makes food?",
        "choices": _lettered(["root", "stem", "flower", "seed", "leaf"]),
        "answerKey": "E",
    },
]
ARC_CHALLENGE_TEST = [
    {
        "id": "Mercury_SC_415702",
        "question": "George wants to warm his hands quickly by rubbing them. "
        "Which skin surface will produce the most heat?",
        "choices": _lettered(
            ["dry palms", "wet palms", "palms covered with oil", "palms covered with lotion"]
        ),
        "answerKey": "A",
    },
]


@pytest.fixture(scope="module")
def arc_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_hub_dataset(
        tmp_path_factory.mktemp("ai2_arc"),
        {"ARC-Challenge": {"test": ARC_CHALLENGE_TEST}, "ARC-Easy": {"test": ARC_EASY_TEST}},
    )


def test_arc_easy_maps_letter_and_digit_keys_to_indices(arc_dir: Path) -> None:
    items = _by_id(_load("arc_easy", arc_dir))
    assert len(items) == 4
    first = items["Mercury_7175875"]
    assert first.answer == 2
    assert first.choices[first.answer] == "Planetary days will become shorter."
    assert first.question.startswith("An astronomer observes")
    digits = items["NYSEDREGENTS_2015_4_7"]
    assert (digits.choices, digits.answer) == (("ruler", "balance", "thermometer", "graduated cylinder"), 1)
    assert (len(items["Mercury_SC_400001"].choices), items["Mercury_SC_400001"].answer) == (3, 1)
    assert (len(items["MCAS_2000_4_6"].choices), items["MCAS_2000_4_6"].answer) == (5, 4)


def test_arc_challenge_reads_its_own_config(arc_dir: Path) -> None:
    items = _load("arc_challenge", arc_dir)
    assert [(item.id, item.answer) for item in items] == [("Mercury_SC_415702", 0)]


def test_answer_key_outside_the_labels_is_an_input_error_naming_the_field(tmp_path: Path) -> None:
    bad = dict(ARC_EASY_TEST[0], id="bad", answerKey="Z")
    root = write_hub_dataset(tmp_path, {"ARC-Easy": {"test": [ARC_EASY_TEST[1], bad]}})
    with pytest.raises(
        InputError, match=r"arc_easy .*:1: field 'answerKey': 'Z' is not one of the choice labels"
    ):
        _load("arc_easy", root)


def test_openbookqa_uses_the_question_stem_as_a_completion(tmp_path: Path) -> None:
    rows = [
        {
            "id": "7-980",
            "question_stem": "The sun is responsible for",
            "choices": _lettered(
                [
                    "puppies learning new tricks",
                    "children growing up and getting old",
                    "flowers wilting in a vase",
                    "plants sprouting, blooming and wilting",
                ]
            ),
            "answerKey": "D",
        },
        {
            "id": "7-584",
            "question_stem": "When standing miles away from Mount Rushmore",
            "choices": _lettered(
                [
                    "the mountains seem very close",
                    "the mountains are boring",
                    "the mountains look the same as from up close",
                    "the mountains seem smaller than in photographs",
                ]
            ),
            "answerKey": "D",
        },
        {
            "id": "7-870",
            "question_stem": "When food is reduced in the stomach",
            "choices": _lettered(
                [
                    "the mind needs time to digest",
                    "take a second to digest what I said",
                    "nutrients are being deconstructed",
                    "reader's digest is a body of works",
                ]
            ),
            "answerKey": "C",
        },
    ]
    root = write_hub_dataset(tmp_path, {"main": {"test": rows, "train": rows[:1]}})
    spec = TASKS.get("openbookqa")
    assert (spec.hf_config, spec.split, spec.cloze_style) == ("main", "test", "completion")
    items = load_task(spec, path=str(root))
    assert [(item.id, item.answer) for item in items] == [("7-980", 3), ("7-584", 3), ("7-870", 2)]
    context, continuation = option_pairs(items[0], format="cloze", style=spec.cloze_style)[3]
    assert (context, continuation) == (
        "The sun is responsible for",
        " plants sprouting, blooming and wilting",
    )


def test_commonsense_qa_evaluates_validation_and_skips_unlabelled_test_rows(tmp_path: Path) -> None:
    def row(id_: str, question: str, key: str) -> dict[str, Any]:
        texts = ["ignore", "enforce", "authoritarian", "yell at", "avoid"]
        return {
            "id": id_,
            "question": question,
            "question_concept": "punishing",
            "choices": _lettered(texts),
            "answerKey": key,
        }

    validation = [
        row(
            "1afa02df02c908a558b4036e80242fac",
            "The sanctions against the school were a punishing blow? ",
            "A",
        ),
        row("a7ab086045575bb497933726e4e6ad28", "Sammy wanted to go to where the people were.", "B"),
        row("b8c0a4703079cf661d7261a60a1bcbff", "To locate a choker not located in a jewelry box?", "E"),
    ]
    test_rows = [row("90b30172e645ff91f7171a048582eb8b", "The townhouse was a hard sell?", "")]
    root = write_hub_dataset(
        tmp_path, {DEFAULT_CONFIG: {"train": validation[:1], "validation": validation, "test": test_rows}}
    )
    spec = TASKS.get("commonsense_qa")
    assert spec.split == "validation"
    items = load_task(spec, path=str(root))
    assert [item.answer for item in items] == [0, 1, 4]
    assert items[0].question == "The sanctions against the school were a punishing blow?"
    assert len(items[0].choices) == 5
    with pytest.raises(InputError, match="no items found"):
        load_task(spec, path=str(root), split="test")


# --- SciQ ------------------------------------------------------------------------------------------

SCIQ_TEST = [
    {
        "question": "What type of organism is commonly used in preparation of cheese and yogurt?",
        "distractor3": "viruses",
        "distractor1": "protozoa",
        "distractor2": "gymnosperms",
        "correct_answer": "mesophilic organisms",
        "support": "Mesophiles grow best in moderate temperature. ",
    },
    {
        "question": "What phenomenon makes global winds blow northeast to southwest or the reverse?",
        "distractor3": "tropical effect",
        "distractor1": "muon effect",
        "distractor2": "centrifugal effect",
        "correct_answer": "coriolis effect",
        "support": "",
    },
    {
        "question": "Changes from a less-ordered state to a more-ordered state are accompanied by?",
        "distractor3": "an increase in entropy",
        "distractor1": "an increase in pressure",
        "distractor2": "a decrease in volume",
        "correct_answer": "a decrease in entropy",
        "support": "Entropy is a measure of disorder.",
    },
    {
        "question": "What is the least dangerous radioactive decay?",
        "distractor3": "zeta decay",
        "distractor1": "beta decay",
        "distractor2": "gamma decay",
        "correct_answer": "alpha decay",
        "support": "Alpha particles are stopped by paper.",
    },
    {
        "question": "Kilauea in Hawaii is the world's most continuously active what?",
        "distractor3": "fault",
        "distractor1": "mountain",
        "distractor2": "geyser",
        "correct_answer": "volcano",
        "support": "Kilauea has erupted since 1983.",
    },
    {
        "question": "When a meteoroid reaches the surface of the earth, it is called a what?",
        "distractor3": "comet",
        "distractor1": "meteor",
        "distractor2": "asteroid",
        "correct_answer": "meteorite",
        "support": "A meteorite reaches the ground.",
    },
]


def test_sciq_puts_the_gold_answer_at_a_stable_shuffled_position(tmp_path: Path) -> None:
    root = write_hub_dataset(tmp_path, {DEFAULT_CONFIG: {"test": SCIQ_TEST, "train": SCIQ_TEST[:2]}})
    spec = TASKS.get("sciq")
    assert (spec.hf_config, spec.split, spec.fewshot_split) == (None, "test", "train")
    items = load_task(spec, path=str(root))
    assert len(items) == len(SCIQ_TEST)
    for item, row in zip(items, SCIQ_TEST, strict=True):
        assert item.choices[item.answer] == row["correct_answer"]
        options = {row["distractor1"], row["distractor2"], row["distractor3"], row["correct_answer"]}
        assert set(item.choices) == options
    assert len({item.answer for item in items}) > 1, "the gold answer must not always sit at one position"
    assert items == load_task(spec, path=str(root)), "the permutation must be the same on every load"
    assert items[0].context == "Mesophiles grow best in moderate temperature."
    assert items[1].context is None


# --- MedMCQA ---------------------------------------------------------------------------------------


def test_medmcqa_maps_cop_and_subject_and_skips_unlabelled_rows(tmp_path: Path) -> None:
    def row(id_: str, question: str, cop: int, subject: str, exp: str | None) -> dict[str, Any]:
        return {
            "id": id_,
            "question": question,
            "opa": "Hyperplasia",
            "opb": "Hypertrophy",
            "opc": "Atrophy",
            "opd": "Dyplasia",
            "cop": cop,
            "choice_type": "single",
            "exp": exp,
            "subject_name": subject,
            "topic_name": "General",
        }

    rows = [
        row(
            "45258d3d-b974-44dd-a161-c3fccbdadd88",
            "Uterus enlarges in pregnancy by?",
            1,
            "Anatomy",
            "Hypertrophy.",
        ),
        row("b3c4d2a1-0f0e-4f5e-9a1b-2c3d4e5f6a7b", "Shrinkage of an organ is called?", 2, "Pathology", None),
        row("e1f2a3b4-c5d6-4e7f-8a9b-0c1d2e3f4a5b", "Unlabelled question?", -1, "Pathology", None),
        row(
            "f6e5d4c3-b2a1-4098-8765-4321fedcba98", "Increase in cell number is called?", 0, "Pathology", None
        ),
    ]
    root = write_hub_dataset(tmp_path, {DEFAULT_CONFIG: {"validation": rows, "train": rows[:1]}})
    spec = TASKS.get("medmcqa")
    assert spec.split == "validation"
    items = load_task(spec, path=str(root))
    assert [item.answer for item in items] == [1, 2, 0]
    assert "e1f2a3b4-c5d6-4e7f-8a9b-0c1d2e3f4a5b" not in _by_id(items)
    first = items[0]
    assert (first.id, first.subject) == ("45258d3d-b974-44dd-a161-c3fccbdadd88", "Anatomy")
    assert first.choices == ("Hyperplasia", "Hypertrophy", "Atrophy", "Dyplasia")


# --- PIQA ------------------------------------------------------------------------------------------


def test_piqa_maps_goal_and_solutions_and_skips_test_labels(tmp_path: Path) -> None:
    validation = [
        {
            "goal": "How do I ready a guinea pig cage for it's new occupants?",
            "sol1": "Provide the guinea pig with a cage full of bedding made of ripped paper strips.",
            "sol2": "Provide the guinea pig with a cage full of bedding made of ripped jeans material.",
            "label": 0,
        },
        {"goal": "dresser", "sol1": "replace drawer with bobby pin", "sol2": "finish, woodwork", "label": 1},
        {
            "goal": "How to boil eggs.",
            "sol1": "Place your eggs in a pot and cover with no water.",
            "sol2": "Place your eggs in a pot and cover with cold water.",
            "label": 1,
        },
    ]
    test_rows = [{"goal": "Remove rust.", "sol1": "Use vinegar.", "sol2": "Use water.", "label": -1}]
    root = write_hub_dataset(
        tmp_path, {DEFAULT_CONFIG: {"train": validation[:1], "validation": validation, "test": test_rows}}
    )
    spec = TASKS.get("piqa")
    assert spec.split == "validation"
    items = load_task(spec, path=str(root))
    assert [(item.id, item.answer) for item in items] == [("0", 0), ("1", 1), ("2", 1)]
    assert items[2].question == "How to boil eggs."
    assert items[2].choices[1] == "Place your eggs in a pot and cover with cold water."
    with pytest.raises(InputError, match="no items found"):
        load_task(spec, path=str(root), split="test")


# --- HellaSwag -------------------------------------------------------------------------------------


def _hellaswag_row(
    ind: int, activity: str, ctx_a: str, ctx_b: str, endings: list[str], label: str
) -> dict[str, Any]:
    return {
        "ind": ind,
        "activity_label": activity,
        "ctx_a": ctx_a,
        "ctx_b": ctx_b,
        "ctx": f"{ctx_a} {ctx_b}".strip(),
        "endings": endings,
        "source_id": "activitynet~v_-1IBHYS3L-Y",
        "split": "val",
        "split_type": "indomain",
        "label": label,
    }


HELLASWAG_VALIDATION = [
    _hellaswag_row(
        24,
        "Roof shingle removal",
        "A man is sitting on a roof.",
        "he",
        [
            "is using wrap to wrap a pair of skis.",
            "is ripping level tiles off.",
            "is holding a rubik's cube.",
            "starts pulling up roofing on a roof.",
        ],
        "3",
    ),
    _hellaswag_row(
        92,
        "Clean and jerk",
        "A lady walks to a barbell. She bends down and grabs the pole.",
        "the lady",
        [
            "swings and lands in her arms.",
            "pulls the barbell forward.",
            "pulls a rope attached to the barbell.",
            "stands and lifts the weight over her head.",
        ],
        "3",
    ),
    _hellaswag_row(
        106,
        "Home and Garden",
        "[header] How to clean a sink [title] Rinse the sink with warm water. [step] Turn on the faucet",
        "",
        [
            "and let it run  for a minute. [substeps] Use a sponge.",
            "[title] Dry the sink.",
            "and pour in bleach.",
            "and leave the house.",
        ],
        "0",
    ),
]


def test_hellaswag_applies_lm_eval_preprocessing(tmp_path: Path) -> None:
    test_rows = [_hellaswag_row(1, "Skiing", "A man skis.", "he", ["a", "b", "c", "d"], "")]
    root = write_hub_dataset(
        tmp_path,
        {
            DEFAULT_CONFIG: {
                "train": HELLASWAG_VALIDATION[:1],
                "validation": HELLASWAG_VALIDATION,
                "test": test_rows,
            }
        },
    )
    spec = TASKS.get("hellaswag")
    assert (spec.split, spec.cloze_style) == ("validation", "completion")
    items = load_task(spec, path=str(root))
    assert [item.answer for item in items] == [3, 3, 0]
    assert items[0].question == "Roof shingle removal: A man is sitting on a roof. He"
    assert (
        items[1].question
        == "Clean and jerk: A lady walks to a barbell. She bends down and grabs the pole. The lady"
    )
    wiki = items[2]
    assert (
        wiki.question
        == "Home and Garden: How to clean a sink. Rinse the sink with warm water. Turn on the faucet"
    )
    assert wiki.choices == (
        "and let it run for a minute. Use a sponge.",
        " Dry the sink.",
        "and pour in bleach.",
        "and leave the house.",
    )
    context, continuation = option_pairs(items[0], format="cloze", style=spec.cloze_style)[3]
    assert (
        context + continuation
        == "Roof shingle removal: A man is sitting on a roof. He starts pulling up roofing on a roof."
    )
    with pytest.raises(InputError, match="no items found"):
        load_task(spec, path=str(root), split="test")


def test_hellaswag_matches_lm_eval_process_docs(tmp_path: Path) -> None:
    reference = _lm_eval_module("hellaswag/utils.py")
    docs = reference.process_docs(datasets.Dataset.from_list(HELLASWAG_VALIDATION))
    root = write_hub_dataset(tmp_path, {DEFAULT_CONFIG: {"validation": HELLASWAG_VALIDATION}})
    items = _load("hellaswag", root)
    assert [(item.question, list(item.choices), item.answer) for item in items] == [
        (doc["query"], doc["choices"], doc["gold"]) for doc in docs
    ]


# --- BoolQ -----------------------------------------------------------------------------------------


def test_boolq_adds_the_question_mark_and_passage(tmp_path: Path) -> None:
    rows = [
        {
            "question": "does ethanol take more energy make that produces",
            "answer": False,
            "passage": "Ethanol fuel -- All biomass goes through at least some of these steps.",
        },
        {
            "question": "is house tax and property tax are same",
            "answer": True,
            "passage": "Property tax -- Property tax or 'house tax' is a local tax on buildings.",
        },
        {
            "question": "is pain experienced in a missing body part or paralyzed area",
            "answer": True,
            "passage": "Phantom pain -- Phantom pain sensations are perceptions felt in a missing limb.",
        },
    ]
    root = write_hub_dataset(tmp_path, {DEFAULT_CONFIG: {"train": rows[:1], "validation": rows}})
    spec = TASKS.get("boolq")
    assert spec.split == "validation"
    items = load_task(spec, path=str(root))
    assert items[0] == MCItem(
        id="0",
        question="does ethanol take more energy make that produces?",
        choices=("no", "yes"),
        answer=0,
        context="Ethanol fuel -- All biomass goes through at least some of these steps.",
    )
    assert [item.answer for item in items] == [0, 1, 1]
    context, continuation = option_pairs(items[1], format="cloze", style=spec.cloze_style)[1]
    assert context.endswith("\nQuestion: is house tax and property tax are same?\nAnswer:")
    assert continuation == " yes"


# --- WinoGrande ------------------------------------------------------------------------------------


def test_winogrande_maps_answers_and_scores_after_the_blank(tmp_path: Path) -> None:
    def row(sentence: str, option1: str, option2: str, answer: str) -> dict[str, Any]:
        return {"sentence": sentence, "option1": option1, "option2": option2, "answer": answer}

    validation = [
        row(
            "Sarah was a much better surgeon than Maria so _ always got the harder cases.",
            "Sarah",
            "Maria",
            "1",
        ),
        row(
            "Sarah was a much better surgeon than Maria so _ always got the easier cases.",
            "Sarah",
            "Maria",
            "2",
        ),
        row(
            "The trophy doesn't fit into the brown suitcase because _ is too large.",
            "trophy",
            "suitcase",
            "1",
        ),
    ]
    xs = [row("Only in xs: _ wins.", "Ann", "Bob", "2")]
    test_rows = [
        row(
            "Ian volunteered to eat Dennis's menudo because _ despised eating intestine.", "Ian", "Dennis", ""
        )
    ]
    root = write_hub_dataset(
        tmp_path,
        {
            "winogrande_xs": {"train": xs, "validation": xs},
            "winogrande_xl": {"train": validation[:1], "validation": validation, "test": test_rows},
        },
    )
    spec = TASKS.get("winogrande")
    assert (spec.hf_config, spec.split, spec.cloze_style) == ("winogrande_xl", "validation", "partial")
    items = load_task(spec, path=str(root))
    assert [item.answer for item in items] == [0, 1, 0]
    assert items[0].choices == ("Sarah", "Maria")
    assert items[0].question == validation[0]["sentence"]
    pairs = option_pairs(items[0], format="cloze", style=spec.cloze_style)
    assert pairs == [
        ("Sarah was a much better surgeon than Maria so Sarah", " always got the harder cases."),
        ("Sarah was a much better surgeon than Maria so Maria", " always got the harder cases."),
    ]
    with pytest.raises(InputError, match="no items found"):
        load_task(spec, path=str(root), split="test")


def test_winogrande_partial_pairs_match_lm_eval(tmp_path: Path) -> None:
    reference = _lm_eval_module("winogrande/preprocess_winogrande.py")
    rows = [
        {
            "sentence": "Kyle doesn't wear leg warmers to bed, while Logan almost always does. "
            "_ is more likely to live in a colder climate.",
            "option1": "Kyle",
            "option2": "Logan",
            "answer": "2",
        },
        {
            "sentence": "The cat chased the mouse until _ was tired.",
            "option1": "cat",
            "option2": "mouse",
            "answer": "1",
        },
    ]
    root = write_hub_dataset(tmp_path, {"winogrande_xl": {"validation": rows}})
    items = _load("winogrande", root)
    for item, row in zip(items, rows, strict=True):
        pairs = option_pairs(item, format="cloze", style="partial")
        # lm-eval joins context and target with its default target_delimiter, a space.
        target = " " + reference.doc_to_target(row)
        assert pairs == [(context, target) for context in reference.doc_to_choice(row)]
        # lm-eval's (misnamed) doc_to_text returns the gold index.
        assert item.answer == reference.doc_to_text(row)


def test_winogrande_bad_answer_names_the_field(tmp_path: Path) -> None:
    rows = [{"sentence": "A _ b.", "option1": "x", "option2": "y", "answer": "3"}]
    root = write_hub_dataset(tmp_path, {"winogrande_xl": {"validation": rows}})
    with pytest.raises(InputError, match=r"field 'answer': expected '1' or '2'"):
        _load("winogrande", root)


# --- the registry ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", FAMILIES)
def test_builtin_family_is_registered_with_a_one_line_description(name: str) -> None:
    spec = TASKS.get(name)
    assert isinstance(spec, TaskSpec)
    assert spec.name == name
    assert spec.description
    assert "\n" not in spec.description
    assert spec.fewshot_split in {"train", "dev"}


def test_hub_ids_match_lm_evaluation_harness() -> None:
    expected = {
        "mmlu": ("cais/mmlu", "all"),
        "arc_easy": ("allenai/ai2_arc", "ARC-Easy"),
        "arc_challenge": ("allenai/ai2_arc", "ARC-Challenge"),
        "openbookqa": ("allenai/openbookqa", "main"),
        "sciq": ("allenai/sciq", None),
        "commonsense_qa": ("tau/commonsense_qa", None),
        "medmcqa": ("openlifescienceai/medmcqa", None),
        "piqa": ("baber/piqa", None),
        "hellaswag": ("Rowan/hellaswag", None),
        "boolq": ("google/boolq", None),
        "winogrande": ("allenai/winogrande", "winogrande_xl"),
    }
    assert {name: (TASKS.get(name).hf_path, TASKS.get(name).hf_config) for name in expected} == expected


def test_unknown_task_suggests_the_close_match() -> None:
    with pytest.raises(InputError, match=r"Unknown task 'arc_esay'\. Did you mean: arc_easy"):
        TASKS.get("arc_esay")


def test_the_builtin_module_is_importable_for_its_side_effect() -> None:
    assert "arc_easy" in TASKS
    assert llmcal.tasks.builtin.convert_arc.__module__ == "llmcal.tasks.builtin"
