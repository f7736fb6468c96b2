"""Greedy generation with a KV cache: the same tokens as transformers' ``generate``, cut where it should."""

from __future__ import annotations

import pytest
import torch

from llmcal.errors import InputError
from llmcal.scoring.generation import GenerationBatch, cut_at_stop, greedy_generate
from llmcal.scoring.hf import HFBackend
from llmcal.scoring.requests import Generation, GenerationRequest

PROMPTS = [
    "Question: What is the capital of France? Answer:",
    "The quick brown fox",
    "Mountains rise above the valley; the king and",
    "A. red B. green C. blue D. yellow. The answer is",
    "the",
    "Question: What is",
    "The quick brown fox jumps over the lazy dog near the river bank. Mountains rise above the",
]


@pytest.fixture(scope="module")
def backend(tiny_model_dir: str) -> HFBackend:
    return HFBackend(tiny_model_dir, device="cpu", dtype="float32", batch_size=3)


def _reference_tokens(backend: HFBackend, prompt: str, n_tokens: int) -> list[int]:
    """transformers' greedy ``generate`` on the prompt alone (no padding), ``n_tokens`` new tokens."""
    encoded = backend.tokenizer(prompt, return_tensors="pt")
    with torch.inference_mode():
        output = backend.model.generate(
            **encoded,
            do_sample=False,
            max_new_tokens=n_tokens,
            min_new_tokens=n_tokens,
            pad_token_id=backend.pad_id,
        )
    return output[0, encoded["input_ids"].shape[1] :].tolist()


# The tiny model repeats a token per prompt (" fox fox ...", " is is ..."), so these stops end some answers
# on a whole token, some inside one ("ox" in " fox") and leave others to run to the token limit.
@pytest.mark.parametrize("stop", [("\n",), (" is", "ox"), ("and", ";")])
def test_generations_equal_transformers_greedy_generate_token_for_token(
    backend: HFBackend, stop: tuple[str, ...]
) -> None:
    generations = backend.generate([GenerationRequest(p, stop) for p in PROMPTS], max_new_tokens=10)
    for prompt, generation in zip(PROMPTS, generations, strict=True):
        assert list(generation.token_ids) == _reference_tokens(backend, prompt, len(generation.token_ids))


def test_the_answer_is_cut_at_the_first_stop_string_and_its_tokens_counted(backend: HFBackend) -> None:
    stop = (" is", "ox", "he")
    generations = backend.generate([GenerationRequest(p, stop) for p in PROMPTS], max_new_tokens=12)
    assert {g.stop for g in generations} == {"stop", "length"}
    assert any(g.text.endswith(" f") and g.n_answer_tokens == 1 for g in generations)  # cut inside " fox"
    for generation in generations:
        decoded = backend.tokenizer.decode(list(generation.token_ids))
        text, found = cut_at_stop(decoded, stop)
        assert generation.text == text
        assert found == (generation.stop == "stop")
        if generation.stop == "stop":
            # Only the last token completes the stop string: the text before it has none.
            assert not cut_at_stop(backend.tokenizer.decode(list(generation.token_ids[:-1])), stop)[1]
        answer = backend.tokenizer.decode(list(generation.token_ids[: generation.n_answer_tokens]))
        assert answer.startswith(generation.text)
        shorter = backend.tokenizer.decode(list(generation.token_ids[: generation.n_answer_tokens - 1]))
        assert generation.n_answer_tokens == 0 or len(shorter) < len(generation.text)
        if generation.stop == "length":
            assert len(generation.token_ids) == 12


def test_token_log_probabilities_equal_a_plain_forward_pass(backend: HFBackend) -> None:
    generations = backend.generate([GenerationRequest(p, ("\n",)) for p in PROMPTS], max_new_tokens=8)
    for prompt, generation in zip(PROMPTS, generations, strict=True):
        context = backend.tokenizer(prompt)["input_ids"]
        ids = torch.tensor([context + list(generation.token_ids)])
        with torch.inference_mode():
            logits = backend.model(input_ids=ids).logits[0].float()
        logprobs = logits.log_softmax(-1)[len(context) - 1 : -1].gather(1, ids[0, len(context) :, None])[:, 0]
        assert list(generation.token_logprobs) == pytest.approx(logprobs.tolist(), abs=1e-4)
        assert max(generation.token_logprobs) <= 0


def test_batching_does_not_change_the_answers(tiny_model_dir: str, backend: HFBackend) -> None:
    one = HFBackend(tiny_model_dir, device="cpu", dtype="float32", batch_size=1)
    auto = HFBackend(tiny_model_dir, device="cpu", dtype="float32")
    requests = [GenerationRequest(p, (".",)) for p in PROMPTS]
    reference = [g.token_ids for g in one.generate(requests, max_new_tokens=8)]
    assert [g.token_ids for g in auto.generate(requests, max_new_tokens=8)] == reference
    assert [g.token_ids for g in backend.generate(requests, max_new_tokens=8)] == reference


def test_an_end_of_text_token_ends_the_answer_without_being_part_of_it(backend: HFBackend) -> None:
    context = backend.tokenizer(PROMPTS[1])["input_ids"]
    (free,) = backend.generate([GenerationRequest(PROMPTS[1], ("\n",))], max_new_tokens=3)
    eos = free.token_ids[0]  # the model's first token, declared end-of-text: an empty answer
    stopped = greedy_generate(
        backend.model,
        backend.tokenizer,
        GenerationBatch([7], [context], [("\n",)]),
        max_new_tokens=3,
        eos_ids=frozenset({eos}),
        pad_id=backend.pad_id,
        device=backend.device,
    )
    assert stopped == [(7, Generation("", (eos,), free.token_logprobs[:1], 0, "eos"))]
    assert stopped[0][1].answer_logprobs == free.token_logprobs[:1]


def test_progress_counts_every_request_and_bad_limits_are_refused(backend: HFBackend) -> None:
    seen: list[int] = []
    backend.generate([GenerationRequest(p) for p in PROMPTS], max_new_tokens=2, on_progress=seen.append)
    assert sum(seen) == len(PROMPTS)
    with pytest.raises(InputError, match="`max_new_tokens` must be a positive integer"):
        backend.generate([GenerationRequest("x")], max_new_tokens=0)
    with pytest.raises(InputError, match="leaves no room for a prompt"):
        backend.generate([GenerationRequest("x")], max_new_tokens=backend.max_length)


def test_cut_at_stop_takes_the_earliest_stop_string() -> None:
    assert cut_at_stop(" Paris, France. Yes", (".", ",")) == (" Paris", True)
    assert cut_at_stop(" Paris", ("\n",)) == (" Paris", False)
    assert cut_at_stop("\nParis", ("\n",)) == ("", True)
    assert cut_at_stop("abc", ("", "c")) == ("ab", True)  # an empty stop string never matches


def test_out_of_memory_halves_a_generation_batch_and_gives_the_same_answers(backend, monkeypatch):
    import llmcal.scoring.hf as hf

    requests = [GenerationRequest(p, (".",)) for p in PROMPTS[:4]]
    backend.batch_size = 4
    expected = [g.token_ids for g in backend.generate(requests, max_new_tokens=6)]
    sizes: list[int] = []

    def small_memory(model, tokenizer, batch, **kwargs):
        sizes.append(len(batch.indices))
        if len(batch.indices) > 1:
            raise torch.OutOfMemoryError("out of memory")
        return greedy_generate(model, tokenizer, batch, **kwargs)

    monkeypatch.setattr(hf, "greedy_generate", small_memory)
    done: list[int] = []
    try:
        generations = backend.generate(requests, max_new_tokens=6, on_progress=done.append)
    finally:
        backend.batch_size = 3
    assert [g.token_ids for g in generations] == expected
    assert sizes == [4, 2, 1, 1, 2, 1, 1]
    assert done == [1, 1, 1, 1]
