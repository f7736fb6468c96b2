"""Open-ended items: the schema, the file and hub loaders, the built-in open tasks, answer matching."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmcal.errors import InputError
from llmcal.tasks import TASKS
from llmcal.tasks.answers import exact_match, normalize_answer, token_f1
from llmcal.tasks.loading import OpenFieldMap, answer_list, load_any_items, load_open_items
from llmcal.tasks.prompts import fewshot_examples, open_prompt, p_true_prompt, verbal_prompt
from llmcal.tasks.schema import ItemFieldError, MCItem, OpenItem
from llmcal.tasks.selection import select_tasks
from llmcal.tasks.spec import load_task

from .hub_fixtures import DEFAULT_CONFIG, write_hub_dataset


def test_open_items_load_with_answers_subject_context_and_metadata(tmp_path: Path, write_jsonl) -> None:
    path = write_jsonl(
        tmp_path / "open.jsonl",
        [
            {"id": "a", "question": "Capital of France?", "answers": ["Paris", "Paree", "Paris"], "pop": 3},
            {"question": "Who wrote Hamlet?", "answers": ["Shakespeare"], "subject": "lit", "context": "c"},
        ],
    )
    first, second = load_open_items(path)
    assert first == OpenItem("a", "Capital of France?", ("Paris", "Paree"), metadata={"pop": 3})
    assert (second.id, second.subject, second.context) == ("2", "lit", "c")
    assert first.to_record() == {
        "id": "a",
        "question": "Capital of France?",
        "answers": ["Paris", "Paree"],
        "pop": 3,
    }


@pytest.mark.parametrize(
    ("row", "field", "problem"),
    [
        ({"question": "q?"}, "answers", "missing"),
        ({"question": "q?", "answers": []}, "answers", "non-empty list"),
        ({"question": "q?", "answers": "Paris"}, "answers", "the string 'Paris'"),
        ({"question": "q?", "answers": ["Paris", " "]}, "answers", "non-empty string"),
        ({"question": "  ", "answers": ["Paris"]}, "question", "is empty"),
        ({"answers": ["Paris"]}, "question", "missing"),
    ],
)
def test_a_bad_open_item_names_file_line_and_field(
    tmp_path: Path, row: dict, field: str, problem: str, write_jsonl
) -> None:
    path = write_jsonl(tmp_path / "bad.jsonl", [{"question": "ok?", "answers": ["x"]}, row])
    with pytest.raises(InputError) as caught:
        load_open_items(path)
    assert f"{path}:2: field {field!r}" in str(caught.value)
    assert problem in str(caught.value)


def test_the_first_record_decides_the_kind_and_a_mixed_file_says_which_line_did(
    tmp_path: Path, write_jsonl
) -> None:
    open_first = write_jsonl(
        tmp_path / "mixed.jsonl",
        [{"question": "q?", "answers": ["a"]}, {"question": "p?", "choices": ["x", "y"], "answer": 0}],
    )
    with pytest.raises(
        InputError, match=r"mixed.jsonl:2: field 'answers': missing.*line 1 made this an open-ended"
    ):
        load_any_items(open_first)
    mc_first = write_jsonl(
        tmp_path / "mixed2.jsonl",
        [{"question": "p?", "choices": ["x", "y"], "answer": 0}, {"question": "q?", "answers": ["a"]}],
    )
    with pytest.raises(
        InputError, match=r"mixed2.jsonl:2: field 'choices'.*line 1 made this a multiple-choice"
    ):
        load_any_items(mc_first)
    assert isinstance(
        load_any_items(
            write_jsonl(tmp_path / "mc.jsonl", [{"question": "p?", "choices": ["x", "y"], "answer": 1}])
        )[0],
        MCItem,
    )


def test_csv_answers_are_a_json_list_and_parquet_rows_load_the_same(tmp_path: Path) -> None:
    csv_path = tmp_path / "open.csv"
    csv_path.write_text('id,question,answers,subject\nq1,Capital of Peru?,"[""Lima"", ""Lima City""]",geo\n')
    (item,) = load_any_items(csv_path)
    assert item == OpenItem("q1", "Capital of Peru?", ("Lima", "Lima City"), subject="geo")
    bad = tmp_path / "bad.csv"
    bad.write_text("question,answers\nq?,Lima\n")
    with pytest.raises(InputError, match=r"bad.csv:2: field 'answers': expected a JSON list"):
        load_any_items(bad)
    import pyarrow as pa
    import pyarrow.parquet as pq

    parquet_path = tmp_path / "open.parquet"
    pq.write_table(
        pa.Table.from_pylist(
            [{"id": "q1", "question": "Capital of Peru?", "answers": ["Lima", "Lima City"], "subject": "geo"}]
        ),
        parquet_path,
    )
    assert load_any_items(parquet_path) == [item]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Paris", ["Paris"]),
        (["Paris", "Paree", "Paris"], ["Paris", "Paree"]),
        ({"value": "Paris", "aliases": ["Paree", "Paris"]}, ["Paris", "Paree"]),
        ({"text": ["Paris", "the city of Paris"], "answer_start": [0, 4]}, ["Paris", "the city of Paris"]),
    ],
)
def test_answer_list_reads_the_hub_answer_shapes(value: object, expected: list[str]) -> None:
    assert answer_list(value, "answer") == expected


def test_answer_list_refuses_what_holds_no_answers() -> None:
    with pytest.raises(ItemFieldError, match="expected an answer string"):
        answer_list(7, "answer")
    with pytest.raises(ItemFieldError):
        answer_list({"aliases": []}, "answer")


def test_open_field_map_converts_rows_and_names_a_missing_field() -> None:
    convert = OpenFieldMap(question="q", answers="a", id="key", subject="s")
    assert convert({"q": "Q?", "a": {"value": "x", "aliases": ["y"]}, "key": 5, "s": "t"}, 0) == {
        "id": "5",
        "question": "Q?",
        "answers": ["x", "y"],
        "subject": "t",
    }
    with pytest.raises(ItemFieldError, match="missing") as caught:
        convert({"q": "Q?"}, 0)
    assert caught.value.field == "a"


def test_nq_open_triviaqa_and_hotpotqa_load_from_their_hub_schema(tmp_path: Path) -> None:
    nq = write_hub_dataset(
        tmp_path / "nq",
        {
            DEFAULT_CONFIG: {
                "validation": [
                    {"question": "who wrote hamlet", "answer": ["Shakespeare", "William Shakespeare"]}
                ]
            }
        },
    )
    (item,) = load_task(TASKS.get("nq_open"), path=str(nq))
    assert item == OpenItem("0", "who wrote hamlet?", ("Shakespeare", "William Shakespeare"))
    trivia_row = {
        "question": "Which planet is red?",
        "question_id": "tc_1",
        "question_source": "x",
        "entity_pages": {"doc_source": [], "filename": [], "title": [], "wiki_context": []},
        "search_results": {
            "description": [],
            "filename": [],
            "rank": [],
            "title": [],
            "url": [],
            "search_context": [],
        },
        "answer": {
            "aliases": ["Mars", "Red Planet"],
            "normalized_aliases": ["mars", "red planet"],
            "matched_wiki_entity_name": "",
            "normalized_matched_wiki_entity_name": "",
            "normalized_value": "mars",
            "type": "WikipediaEntity",
            "value": "Mars",
        },
    }
    trivia = write_hub_dataset(tmp_path / "trivia", {"rc.nocontext": {"validation": [trivia_row]}})
    (item,) = load_task(TASKS.get("triviaqa"), path=str(trivia))
    assert item == OpenItem("tc_1", "Which planet is red?", ("Mars", "Red Planet"))
    hotpot_row = {
        "id": "5a8b",
        "question": "Which magazine was started first?",
        "answer": "Arthur's Magazine",
        "type": "comparison",
        "level": "medium",
        "supporting_facts": {"title": ["A"], "sent_id": [0]},
        "context": {"title": ["A"], "sentences": [["s"]]},
    }
    hotpot = write_hub_dataset(tmp_path / "hotpot", {"distractor": {"validation": [hotpot_row]}})
    (item,) = load_task(TASKS.get("hotpotqa"), path=str(hotpot))
    assert item == OpenItem(
        "5a8b",
        "Which magazine was started first?",
        ("Arthur's Magazine",),
        subject="comparison",
        metadata={"level": "medium"},
    )
    bad = write_hub_dataset(
        tmp_path / "bad", {DEFAULT_CONFIG: {"validation": [{"question": "q", "answer": []}]}}
    )
    with pytest.raises(InputError, match=r"nq_open .*split validation\):0: field 'answer'"):
        load_task(TASKS.get("nq_open"), path=str(bad))


def test_open_fact_items_are_the_fact_tasks_entities_with_every_alias() -> None:
    (task,) = select_tasks(["facts_open_capital"])
    (mc,) = select_tasks(["facts_capital"])
    assert task.kind == "open"
    assert task.stop == ("\n", ".", ",")
    assert [item.id for item in task.items] == [item.id for item in mc.items]
    for item, mc_item in zip(task.items, mc.mc_items(), strict=True):
        assert isinstance(item, OpenItem)
        assert item.answers == (mc_item.choices[mc_item.answer], *mc_item.aliases)
        assert (item.question, item.metadata) == (mc_item.question, mc_item.metadata)


def test_open_and_multiple_choice_tasks_are_not_evaluated_together() -> None:
    with pytest.raises(InputError, match="facts_open_capital is open-ended"):
        select_tasks(["facts_capital", "facts_open_capital"])


def test_open_prompts_put_the_question_and_the_models_own_answer() -> None:
    item = OpenItem("a", "What is the capital of France?", ("Paris",))
    sentence = OpenItem("b", "The capital of Peru is", ("Lima",), context="Peru is in South America.")
    assert open_prompt(item) == "Question: What is the capital of France?\nAnswer:"
    assert open_prompt(sentence, style="completion") == "Peru is in South America.\nThe capital of Peru is"
    assert p_true_prompt(item, " Lyon") == (
        "Question: What is the capital of France?\nProposed answer: Lyon\n"
        "Is the proposed answer true or false?\nAnswer:"
    )
    assert p_true_prompt(sentence, " Lima", style="completion").endswith(
        "Statement: The capital of Peru is Lima\nIs the statement true or false?\nAnswer:"
    )
    assert verbal_prompt(item, "Lyon").endswith(
        "How likely is the proposed answer to be correct? Answer with a probability between 0.0 and 1.0."
        "\nProbability:"
    )
    shots = fewshot_examples(item, [item, sentence], k=1, seed=0, format="cloze", style="completion")
    assert shots == "Peru is in South America.\nThe capital of Peru is Lima\n\n"
    with pytest.raises(InputError, match="'qa' or 'completion'"):
        open_prompt(item, style="partial")


@pytest.mark.parametrize(
    ("text", "normalized"),
    [
        ("The Eiffel Tower!", "eiffel tower"),
        ("  an   apple,  a pear ", "apple pear"),
        ("Bogotá", "bogota"),
        ("Theatre", "theatre"),  # "the" only as a whole word
        ("U.S.A.", "usa"),
    ],
)
def test_normalize_answer_follows_squad_and_folds_accents(text: str, normalized: str) -> None:
    assert normalize_answer(text) == normalized


def test_exact_match_accepts_any_alias_and_never_an_empty_answer() -> None:
    assert exact_match(" Paris.", ("Lutetia", "paris"))
    assert exact_match("the Vatican", ("Vatican City", "Vatican"))
    assert not exact_match("Paris, France", ("Paris",))
    assert not exact_match("", ("The",))
    assert not exact_match("the", ("The",))


def test_token_f1_is_the_best_overlap_over_the_aliases() -> None:
    assert token_f1("the city of Paris", ("Paris",)) == pytest.approx(2 * (1 / 3) * 1 / (1 / 3 + 1))
    assert token_f1("New York City", ("York", "New York")) == pytest.approx(0.8)
    assert token_f1("Paris", ("Paris France",)) == pytest.approx(2 / 3)  # precision 1, recall 1/2
    assert token_f1("Lima", ("Paris",)) == 0.0
    assert token_f1("", ("Paris",)) == 0.0
