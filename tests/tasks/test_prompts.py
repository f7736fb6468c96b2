"""Prompts: each format's text, and few-shot examples solved and seeded."""

from __future__ import annotations

import pytest

from llmcal import InputError
from llmcal.tasks import MCItem, fewshot_examples, letter_prompt, option_pairs


def test_prompt_formats():
    item = MCItem("x", "Capital of France?", ("Paris", "Lyon"), 0, context="Europe.")
    assert option_pairs(item, format="cloze") == [
        ("Europe.\nQuestion: Capital of France?\nAnswer:", " Paris"),
        ("Europe.\nQuestion: Capital of France?\nAnswer:", " Lyon"),
    ]
    assert option_pairs(item, format="cloze", style="completion")[1] == (
        "Europe.\nCapital of France?",
        " Lyon",
    )
    context, letters = letter_prompt(item)
    assert context == "Europe.\nCapital of France?\nA. Paris\nB. Lyon\nAnswer:"
    assert letters == [" A", " B"]
    blank = MCItem("w", "The cup fell because _ was slippery.", ("it", "the table"), 0)
    assert option_pairs(blank, format="cloze", style="partial") == [
        ("The cup fell because it", " was slippery."),
        ("The cup fell because the table", " was slippery."),
    ]
    with pytest.raises(InputError, match="exactly one '_'"):
        option_pairs(item, format="cloze", style="partial")


def test_fewshot_examples_are_solved_and_seeded():
    pool = [MCItem(str(i), f"Q{i}?", ("yes", "no"), i % 2) for i in range(6)]
    prefix = fewshot_examples(pool[0], pool, k=2, seed=1, format="cloze")
    assert prefix.count("Question:") == 2
    assert "Q0?" not in prefix
    assert prefix.endswith("\n\n")
    assert prefix == fewshot_examples(pool[0], pool, k=2, seed=1, format="cloze")
    assert fewshot_examples(pool[0], pool, k=0, seed=1, format="cloze") == ""
    with pytest.raises(InputError, match="needs at least 9 other items"):
        fewshot_examples(pool[0], pool, k=9, seed=1, format="cloze")
