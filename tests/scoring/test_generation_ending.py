"""How a generation ends, read from its tokens: stop strings across tokens, end-of-text, the token limit."""

from __future__ import annotations

from typing import Any

import pytest

from llmcal.scoring.generation_ending import ending


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir: str) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model_dir)


def test_end_of_text_ends_a_generation_and_is_not_part_of_the_answer(tokenizer: Any) -> None:
    tokens = [*tokenizer.encode(" Paris", add_special_tokens=False), 7]
    generation = ending(tokenizer, tokens, [-0.5] * len(tokens), ("\n",), frozenset({7}), out_of_tokens=False)
    assert generation is not None
    assert (generation.text, generation.stop, generation.n_answer_tokens) == (
        " Paris",
        "eos",
        len(tokens) - 1,
    )


def test_a_generation_without_a_stop_goes_on_until_it_is_out_of_tokens(tokenizer: Any) -> None:
    tokens = tokenizer.encode(" Paris is", add_special_tokens=False)
    logprobs = [-0.5] * len(tokens)
    assert ending(tokenizer, tokens, logprobs, ("\n",), frozenset(), out_of_tokens=False) is None
    generation = ending(tokenizer, tokens, logprobs, ("\n",), frozenset(), out_of_tokens=True)
    assert generation is not None
    assert (generation.text, generation.stop, generation.n_answer_tokens) == (
        " Paris is",
        "length",
        len(tokens),
    )


# (answer tokens, stop tokens, stop string): the stop string spans 1, 2 and 3 whole tokens, and in the last
# case starts inside the answer's last token (" fox" holds the answer's "fo" and the stop's "x").
MULTI_TOKEN_STOPS = [
    (" Paris", "\n", "\n"),
    (" Paris", " is the", " is the"),
    (" Paris", " Answer:", " Answer:"),  # " Answer" ":" , 2 tokens
    (" Paris", "\n\nQuestion", "\n\nQuestion"),  # "\n" "\n" "Question", 3 tokens
    (" fox", " fox fox", "x fox fox"),
]


@pytest.mark.parametrize(("answer", "stop_text", "stop"), MULTI_TOKEN_STOPS)
def test_the_stop_strings_tokens_are_not_answer_tokens(
    tokenizer: Any, answer: str, stop_text: str, stop: str
) -> None:
    encode = tokenizer.encode
    answer_ids, stop_ids = (
        encode(answer, add_special_tokens=False),
        encode(stop_text, add_special_tokens=False),
    )
    tokens = answer_ids + stop_ids
    generation = ending(tokenizer, tokens, [-1.0] * len(tokens), (stop,), frozenset(), out_of_tokens=False)
    assert generation is not None
    assert generation.stop == "stop"
    assert generation.text == (answer + stop_text)[: (answer + stop_text).find(stop)]
    assert generation.n_answer_tokens == len(answer_ids)


def test_a_stop_string_at_the_start_leaves_no_answer_tokens(tokenizer: Any) -> None:
    tokens = tokenizer.encode("\n\nQuestion", add_special_tokens=False)
    generation = ending(
        tokenizer, tokens, [-1.0] * len(tokens), ("\n\nQuestion",), frozenset(), out_of_tokens=False
    )
    assert generation is not None
    assert (generation.text, generation.n_answer_tokens) == ("", 0)
