"""Item files a loader must read exactly or refuse with an InputError naming the file, line and fix.

CSV is parsed with the csv module over the whole file (quoted line breaks, U+2028 and form feeds stay
inside their cell, and errors name the line a row starts on); CSV metadata columns of numbers are numbers;
empty files, blank files and header-only files are input errors; a leading UTF-8 BOM is accepted by every
reader; empty ids are refused; integral float answers (``1.0``) are indices.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmcal.errors import InputError
from llmcal.metrics.strata import stratify
from llmcal.tasks.fields import field_values
from llmcal.tasks.loading import FieldMap, load_any_items, load_items, load_open_items
from llmcal.tasks.schema import MCItem

HEADER = "id,question,choice_0,choice_1,answer"
LOADERS = [load_items, load_open_items, load_any_items]


def write(path: Path, content: str | bytes) -> Path:
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def jsonl(*records: dict[str, object]) -> str:
    return "".join(json.dumps(record) + "\n" for record in records)


def item(**fields: object) -> dict[str, object]:
    return {"question": "Q?", "choices": ["a", "b"], "answer": 0} | fields


# --- CSV is parsed as CSV, not split into lines first ------------------------------------------------


def test_a_quoted_line_break_stays_in_its_cell_and_later_lines_keep_their_numbers(tmp_path: Path) -> None:
    path = write(
        tmp_path / "items.csv",
        f'{HEADER}\r\nq1,"Two\nlines",a,b,0\r\nq2,"Three\r\nline\r\nquestion",a,b,1\r\nq3,Q?,a,b,7\r\n',
    )
    with pytest.raises(InputError) as error:
        load_items(path)
    # q3 starts on physical line 7: the header, q1 (2 lines), q2 (3 lines).
    assert str(error.value).startswith(f"{path}:7: field 'answer': expected an index in 0..1; found 7")
    write(path, f'{HEADER}\nq1,"Two\nlines",a,b,0\nq2,"Three\r\nline\r\nquestion",a,b,1\n')
    items = load_items(path)
    assert [item.question for item in items] == ["Two\nlines", "Three\r\nline\r\nquestion"]


@pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\x85", "\x0c", "\x0b", "\x1c"])
def test_unicode_line_separators_inside_a_cell_are_text(tmp_path: Path, separator: str) -> None:
    path = write(tmp_path / "items.csv", f"{HEADER}\nq1,A{separator}B,a,b,0\nq2,Q?,a,b,9\n")
    with pytest.raises(InputError, match=r"items.csv:3: field 'answer'"):
        load_items(path)
    write(path, f"{HEADER}\nq1,A{separator}B,a,b,0\n")
    assert load_items(path)[0].question == f"A{separator}B"


def test_an_unclosed_quote_names_the_line_it_opens_on(tmp_path: Path) -> None:
    path = write(tmp_path / "items.csv", f'{HEADER}\nq1,Q?,a,b,0\nq2,"Q?,a,b,0\nq3,Q?,a,b,0\n')
    with pytest.raises(InputError) as error:
        load_items(path)
    message = str(error.value)
    assert message.startswith(f"{path}:3: ")
    assert "never closed" in message


def test_a_row_with_more_cells_than_the_header_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "items.csv", f"{HEADER}\nq1,What is 1,000?,a,b,0\n")
    with pytest.raises(InputError, match=r"items.csv:2: has 6 cells but the header .* 5 columns"):
        load_items(path)
    write(path, f"{HEADER}\nq1,Q?,a,b,0,,\n")  # trailing empty cells are harmless
    assert load_items(path)[0].id == "q1"


def test_a_column_named_twice_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "items.csv", "id,question,choice_0,choice_1,answer,question\nq,Q?,a,b,0,R?\n")
    with pytest.raises(InputError, match=r"items.csv:1: column 'question' appears twice in the header"):
        load_items(path)


# --- CSV column types: numbers in metadata columns are numbers ----------------------------------------


def test_metadata_columns_of_numbers_are_numbers_and_every_other_column_stays_text(tmp_path: Path) -> None:
    path = write(
        tmp_path / "items.csv",
        "id,question,choice_0,choice_1,answer,subject,popularity,year,code,relation,note\n"
        "001,Q?,1,2,0,7,3.2e7,1990,007,capital,\n"
        "002,Q?,3,4,1,8,120,2001,012,7,n/a\n"
        "003,Q?,5,6,0,9,,1999,100,currency,5\n",
    )
    items = load_items(path)
    assert [item.id for item in items] == ["001", "002", "003"]  # schema fields are never typed
    assert [item.subject for item in items] == ["7", "8", "9"]
    assert items[0].choices == ("1", "2")
    assert [item.metadata.get("popularity") for item in items] == [3.2e7, 120.0, None]  # empty: absent
    assert all(isinstance(item.metadata.get("popularity", 0.0), float) for item in items)
    assert [item.metadata["year"] for item in items] == [1990, 2001, 1999]
    assert all(type(item.metadata["year"]) is int for item in items)
    assert [item.metadata["code"] for item in items] == ["007", "012", "100"]  # leading zeros: a code
    assert [item.metadata["relation"] for item in items] == ["capital", "7", "currency"]  # mixed: text
    assert [item.metadata.get("note") for item in items] == [None, "n/a", "5"]


def test_a_numeric_csv_column_is_stratified_by_quantiles_like_the_same_jsonl(tmp_path: Path) -> None:
    rows = [(f"q{index}", 10**index) for index in range(8)]
    table = write(
        tmp_path / "items.csv",
        "id,question,choice_0,choice_1,answer,popularity\n"
        + "".join(f"{name},Q?,a,b,0,{value}\n" for name, value in rows),
    )
    lines = write(tmp_path / "items.jsonl", jsonl(*(item(id=name, popularity=value) for name, value in rows)))
    strata = [stratify(field_values(load_any_items(path), "popularity", task="t")) for path in (table, lines)]
    assert strata[0].kind == strata[1].kind == "quantile"
    assert strata[0].strata == strata[1].strata
    assert strata[0].index.tolist() == strata[1].index.tolist()


@pytest.mark.parametrize("cell", ["NaN", "nan", "inf", "-Infinity"])
def test_a_non_finite_cell_in_a_column_of_numbers_names_the_cell(tmp_path: Path, cell: str) -> None:
    path = write(
        tmp_path / "items.csv",
        f"id,question,choice_0,choice_1,answer,popularity\nq1,Q?,a,b,0,12\nq2,Q?,a,b,0,{cell}\n",
    )
    with pytest.raises(InputError) as error:
        load_items(path)
    message = str(error.value)
    assert message.startswith(f"{path}:3: field 'popularity': expected a finite number; found {cell!r}")
    assert "Leave this cell empty if the value is unknown" in message


def test_a_converter_gets_the_csv_cells_as_text(tmp_path: Path) -> None:
    path = write(tmp_path / "other.csv", "qid,prompt,A,B,label\n1,Q?,10,20,B\n2,R?,30,40,A\n")
    items = load_items(
        path, convert=FieldMap(question="prompt", choices=("A", "B"), answer="label", id="qid")
    )
    assert [(item.id, item.choices, item.answer) for item in items] == [
        ("1", ("10", "20"), 1),
        ("2", ("30", "40"), 0),
    ]


# --- Empty files ------------------------------------------------------------------------------------


@pytest.mark.parametrize("load", LOADERS)
@pytest.mark.parametrize(
    ("name", "content", "found"),
    [
        ("items.jsonl", b"", "the file is empty"),
        ("items.jsonl", b"\n  \n\t\n", "only blank lines"),
        ("items.jsonl", b"\xef\xbb\xbf", "the file is empty"),
        ("items.csv", b"", "the file is empty"),
        ("items.csv", b"\r\n\n  \n", "only blank lines"),
        ("items.csv", b"id,question,choice_0,choice_1,answer\n", "a header (line 1) and no rows"),
        ("items.csv", b"\nid,question,answers\n\n,,\n", "a header (line 2) and no rows"),
    ],
)
def test_an_empty_file_is_an_input_error_saying_what_was_found(
    tmp_path: Path, load: object, name: str, content: bytes, found: str
) -> None:
    path = write(tmp_path / name, content)
    with pytest.raises(InputError) as error:
        load(path)  # type: ignore[operator]
    message = str(error.value)
    assert message.startswith(f"{path}: no items found: ")
    assert found in message
    assert "expected" in message


def test_a_parquet_file_without_rows_is_an_input_error(tmp_path: Path) -> None:
    pyarrow = pytest.importorskip("pyarrow")
    parquet = pytest.importorskip("pyarrow.parquet")
    path = tmp_path / "items.parquet"
    parquet.write_table(pyarrow.table({"question": pyarrow.array([], pyarrow.string())}), path)
    for load in LOADERS:
        with pytest.raises(InputError, match=r"items.parquet: no items found: the file has no rows"):
            load(path)


# --- A UTF-8 BOM ------------------------------------------------------------------------------------


@pytest.mark.parametrize("load", LOADERS[::2])
def test_a_bom_at_the_start_is_accepted_in_jsonl_and_csv_alike(tmp_path: Path, load: object) -> None:
    lines = write(tmp_path / "items.jsonl", b"\xef\xbb\xbf" + jsonl(item(id="q1"), item(id="q2")).encode())
    table = write(tmp_path / "items.csv", b"\xef\xbb\xbf" + f"{HEADER}\nq1,Q?,a,b,0\nq2,Q?,a,b,0\n".encode())
    assert load(lines) == load(table)  # type: ignore[operator]
    assert [entry.id for entry in load(lines)] == ["q1", "q2"]  # type: ignore[operator]


def test_a_bom_anywhere_else_is_text(tmp_path: Path) -> None:
    lines = write(tmp_path / "items.jsonl", jsonl(item(id="q1")) + "\ufeff" + jsonl(item(id="q2")))
    with pytest.raises(InputError, match=r"items.jsonl:2: not valid JSON"):
        load_items(lines)
    table = write(tmp_path / "items.csv", f"{HEADER}\n\ufeffq1,Q?,a,b,0\n")
    assert load_items(table)[0].id == "\ufeffq1"


# --- Ids --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("empty", ["", "   ", "\t"])
def test_an_empty_id_is_refused_in_jsonl(tmp_path: Path, empty: str) -> None:
    path = write(tmp_path / "items.jsonl", jsonl(item(id="q1"), item(id=empty)))
    with pytest.raises(InputError) as error:
        load_any_items(path)
    assert str(error.value).startswith(f"{path}:2: field 'id': is empty")


@pytest.mark.parametrize("empty", ["", "   "])
def test_an_empty_id_cell_is_refused_in_csv(tmp_path: Path, empty: str) -> None:
    path = write(tmp_path / "items.csv", f"{HEADER}\nq1,Q?,a,b,0\n{empty},Q?,a,b,0\n")
    with pytest.raises(InputError) as error:
        load_items(path)
    assert str(error.value).startswith(f"{path}:3: field 'id': is empty")


def test_an_open_item_with_an_empty_id_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "items.jsonl", jsonl({"id": " ", "question": "Q?", "answers": ["x"]}))
    with pytest.raises(InputError, match=r"items.jsonl:1: field 'id': is empty"):
        load_open_items(path)


def test_without_an_id_items_are_numbered_by_line(tmp_path: Path) -> None:
    table = write(tmp_path / "items.csv", "question,choice_0,choice_1,answer\nQ?,a,b,0\nR?,a,b,1\n")
    assert [entry.id for entry in load_items(table)] == ["2", "3"]


def test_duplicate_ids_are_refused_in_jsonl_and_csv(tmp_path: Path) -> None:
    lines = write(tmp_path / "items.jsonl", jsonl(item(id=1), item(id="2"), item(id="1")))
    with pytest.raises(InputError, match=r"items.jsonl:3: field 'id': duplicate id '1' \(first on line 1\)"):
        load_any_items(lines)
    table = write(tmp_path / "items.csv", f'{HEADER}\nq1,"Two\nlines",a,b,0\nq1,Q?,a,b,0\n')
    with pytest.raises(InputError, match=r"items.csv:4: field 'id': duplicate id 'q1' \(first on line 2\)"):
        load_items(table)


# --- Answers ----------------------------------------------------------------------------------------


def test_an_integral_float_answer_is_an_index(tmp_path: Path) -> None:
    lines = write(tmp_path / "items.jsonl", jsonl(item(id="q1", answer=1.0), item(id="q2", answer="0.0")))
    assert [entry.answer for entry in load_items(lines)] == [1, 0]
    assert all(type(entry.answer) is int for entry in load_items(lines))
    table = write(tmp_path / "items.csv", f"{HEADER}\nq1,Q?,a,b,1.0\nq2,Q?,a,b,0\nq3,Q?,a,b, 1 \n")
    assert [entry.answer for entry in load_items(table)] == [1, 0, 1]
    assert load_items(table)[0] == MCItem("q1", "Q?", ("a", "b"), 1)


@pytest.mark.parametrize(
    ("answer", "found"),
    [
        ("1.5", "1.5"),
        ("NaN", "nan"),
        ("Infinity", "inf"),
        ("true", "True"),
        ('"1.5"', "'1.5'"),
        ('"one"', "'one'"),
        ("1e400", "inf"),
    ],
)
def test_an_answer_that_is_not_a_whole_number_is_refused(tmp_path: Path, answer: str, found: str) -> None:
    path = write(
        tmp_path / "items.jsonl", f'{{"question": "Q?", "choices": ["a", "b"], "answer": {answer}}}\n'
    )
    with pytest.raises(InputError) as error:
        load_items(path)
    assert str(error.value).startswith(
        f"{path}:1: field 'answer': expected an integer index into choices (0, 1, ...); found {found}"
    )


def test_a_field_map_reads_integral_float_answers_and_refuses_other_numbers(tmp_path: Path) -> None:
    mapping = FieldMap(question="prompt", choices=("A", "B"), answer="label", answer_base=1)
    lines = write(
        tmp_path / "other.jsonl",
        jsonl(
            {"prompt": "Q?", "A": "x", "B": "y", "label": 2.0},
            {"prompt": "R?", "A": "x", "B": "y", "label": 1},
        ),
    )
    assert [entry.answer for entry in load_items(lines, convert=mapping)] == [1, 0]
    table = write(tmp_path / "other.csv", "prompt,A,B,label\nQ?,x,y,2.0\nR?,x,y,y\nS?,x,y,1\n")
    assert [entry.answer for entry in load_items(table, convert=mapping)] == [1, 1, 0]
    for label in ("1.5", "\u00b2", "NaN"):
        write(table, f"prompt,A,B,label\nQ?,x,y,{label}\n")
        with pytest.raises(InputError, match=r"other.csv:2: field 'label': cannot map answer"):
            load_items(table, convert=mapping)
