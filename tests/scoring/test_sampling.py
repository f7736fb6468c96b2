"""Sampling answers (issue 29, item 1): seeded per sample, the model's own log-probabilities, HF's filters."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from transformers.generation.logits_process import TopKLogitsWarper, TopPLogitsWarper

from llmcal.errors import InputError
from llmcal.scoring import FakeBackend
from llmcal.scoring.generation import _Row, _SampledToken
from llmcal.scoring.hf import HFBackend
from llmcal.scoring.requests import GenerationRequest
from llmcal.scoring.sampling import SamplingSettings, sample_seed
from llmcal.scoring.server import ServerBackend
from llmcal.scoring.server_client import ClientSettings
from tests.scoring.fake_completions_server import FakeCompletions, Knobs

PROMPTS = [
    "Question: What is the capital of France? Answer:",
    "The quick brown fox",
    "Mountains rise above the valley; the king and",
    "the",
    "The quick brown fox jumps over the lazy dog near the river bank. Mountains rise above the",
]
REQUESTS = [GenerationRequest(prompt, ("\n",), f"item-{i}") for i, prompt in enumerate(PROMPTS)]
# Temperature 1.5 without filters: the tiny model's samples then differ from one another.
SPREAD = SamplingSettings(samples=4, temperature=1.5, top_k=0, seed=3)


@pytest.fixture(scope="module")
def tiny(tiny_model_dir: str) -> str:
    return tiny_model_dir


def _backend(path: str, batch_size: int | str = 8) -> HFBackend:
    return HFBackend(path, device="cpu", dtype="float32", batch_size=batch_size)


def _tokens(sampled: list[list[Any]]) -> list[list[tuple[int, ...]]]:
    return [[sample.token_ids for sample in samples] for samples in sampled]


@pytest.mark.parametrize(
    ("values", "parameter"),
    [
        ({"samples": 0}, "samples"),
        ({"samples": 1}, "samples"),
        ({"samples": True}, "samples"),
        ({"temperature": -0.1}, "temperature"),
        ({"temperature": float("nan")}, "temperature"),
        ({"temperature": float("inf")}, "temperature"),
        ({"top_k": -1}, "top_k"),
        ({"top_k": 2.5}, "top_k"),
        ({"top_p": 0.0}, "top_p"),
        ({"top_p": 1.5}, "top_p"),
        ({"seed": -1}, "seed"),
    ],
)
def test_bad_sampling_settings_are_refused_naming_the_setting(values: dict[str, Any], parameter: str) -> None:
    with pytest.raises(InputError, match=f"`{parameter}`") as error:
        SamplingSettings(**values)
    assert error.value.parameter == parameter


def test_samples_do_not_depend_on_the_batch_or_the_order_of_the_prompts(tiny: str) -> None:
    expected = _tokens(_backend(tiny, 1).sample(REQUESTS, settings=SPREAD, max_new_tokens=6))
    assert len({tokens for samples in expected for tokens in samples}) > len(PROMPTS)  # they do differ
    for batch_size in (3, "auto"):
        assert (
            _tokens(_backend(tiny, batch_size).sample(REQUESTS, settings=SPREAD, max_new_tokens=6))
            == expected
        )
    backwards = _backend(tiny, 2).sample(REQUESTS[::-1], settings=SPREAD, max_new_tokens=6)
    assert _tokens(backwards)[::-1] == expected
    # More samples per prompt leave the first ones as they were: each has its own stream.
    more = SamplingSettings(samples=6, temperature=1.5, top_k=0, seed=3)
    assert [
        samples[:4] for samples in _tokens(_backend(tiny).sample(REQUESTS, settings=more, max_new_tokens=6))
    ] == expected
    other_seed = SamplingSettings(samples=4, temperature=1.5, top_k=0, seed=4)
    assert _tokens(_backend(tiny).sample(REQUESTS, settings=other_seed, max_new_tokens=6)) != expected


def test_a_samples_log_probabilities_are_the_models_own_at_temperature_one(tiny: str) -> None:
    backend = _backend(tiny)
    sampled = backend.sample(REQUESTS, settings=SPREAD, max_new_tokens=5)
    for request, samples in zip(REQUESTS, sampled, strict=True):
        prompt = backend.tokenizer(request.context)["input_ids"]
        for sample in samples:
            ids = torch.tensor([prompt + list(sample.token_ids)])
            with torch.inference_mode():
                table = backend.model(input_ids=ids).logits[0].float().log_softmax(dim=-1)
            plain = [float(table[len(prompt) - 1 + j, token]) for j, token in enumerate(sample.token_ids)]
            np.testing.assert_allclose(sample.token_logprobs, plain, atol=1e-4)


def test_temperature_zero_and_top_k_one_sample_the_greedy_answer(tiny: str) -> None:
    backend = _backend(tiny)
    greedy = [answer.token_ids for answer in backend.generate(REQUESTS, max_new_tokens=5)]
    for settings in (
        SamplingSettings(samples=3, temperature=0.0),
        SamplingSettings(samples=3, top_k=1),
        SamplingSettings(samples=3, top_k=0, top_p=1e-9),
    ):
        sampled = backend.sample(REQUESTS, settings=settings, max_new_tokens=5)
        assert [{sample.token_ids for sample in samples} for samples in sampled] == [{g} for g in greedy]


def test_first_tokens_follow_the_models_distribution(tiny: str) -> None:
    """400 one-token samples of a prompt: each likely token's share is its probability (4 sigma)."""
    backend = _backend(tiny)
    request = GenerationRequest(PROMPTS[0], ("\n",), "one")
    settings = SamplingSettings(samples=400, temperature=2.0, top_k=0, seed=11)
    drawn = [
        sample.token_ids[0] for sample in backend.sample([request], settings=settings, max_new_tokens=1)[0]
    ]
    prompt = torch.tensor([backend.tokenizer(PROMPTS[0])["input_ids"]])
    with torch.inference_mode():
        probs = (backend.model(input_ids=prompt).logits[0, -1].float() / 2.0).softmax(dim=-1)
    counts = np.bincount(drawn, minlength=len(probs))
    likely = torch.topk(probs, 5).indices.tolist()
    for token in likely:
        p = float(probs[token])
        assert abs(counts[token] / 400 - p) <= 4 * np.sqrt(p * (1 - p) / 400) + 1e-9, token


@pytest.mark.parametrize(("top_k", "top_p"), [(5, 1.0), (0, 0.3), (0, 0.9), (7, 0.5), (1, 1.0)])
def test_filters_keep_the_tokens_transformers_warpers_keep(top_k: int, top_p: float) -> None:
    """Temperature, then top-k, then top-p: the order and the semantics of ``transformers``' warpers."""
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(6, 50, generator=generator) * 3
    logits[0, :4] = 2.0  # ties at the k-th value stay in, as in HF
    settings = SamplingSettings(samples=2, temperature=0.7, top_k=top_k, top_p=top_p)
    theirs = logits.double() / 0.7
    if top_k:
        theirs = TopKLogitsWarper(top_k)(None, theirs)
    if top_p < 1.0:
        theirs = TopPLogitsWarper(top_p)(None, theirs)
    allowed = torch.isfinite(theirs)
    rows = [_Row(0, [], (), np.random.default_rng(seed)) for seed in range(6)]
    choose = _SampledToken(settings)
    for _ in range(200):
        chosen = choose(logits, rows)
        assert bool(allowed[torch.arange(6), chosen].all())
    if top_k == 1:
        assert chosen.tolist() == logits.argmax(dim=-1).tolist()


def test_sample_seeds_differ_by_every_part() -> None:
    base = sample_seed(0, "prompt", "key", 0)
    assert len({base, sample_seed(1, "prompt", "key", 0), sample_seed(0, "prompt!", "key", 0)}) == 3
    assert len({base, sample_seed(0, "prompt", "key2", 0), sample_seed(0, "prompt", "key", 1)}) == 3


def test_the_fake_backend_samples_reproducibly_and_sometimes_departs_from_its_answer() -> None:
    fake = FakeBackend(answers=["Paris", "Rome", "Lima", "Oslo"])
    requests = [GenerationRequest(f"Q{i}?", ("\n",), f"k{i}") for i in range(30)]
    settings = SamplingSettings(samples=5, seed=1)
    first = fake.sample(requests, settings=settings, max_new_tokens=4)
    assert first == fake.sample(requests, settings=settings, max_new_tokens=4)
    greedy = [answer.text for answer in fake.generate(requests, max_new_tokens=4)]
    agreeing = [
        sum(sample.text == answer for sample in samples)
        for answer, samples in zip(greedy, first, strict=True)
    ]
    assert min(agreeing) < 5
    assert max(agreeing) == 5
    cold = fake.sample(requests, settings=SamplingSettings(samples=5, temperature=0.0), max_new_tokens=4)
    assert all(
        sample.text == answer for answer, samples in zip(greedy, cold, strict=True) for sample in samples
    )


def _server(tiny: str, knobs: Knobs | None = None) -> tuple[ServerBackend, FakeCompletions]:
    in_process = _backend(tiny)
    fake = FakeCompletions(in_process.model, in_process.tokenizer, "tiny", tiny, knobs)
    client = ClientSettings(first_pause_s=0.0)
    server = ServerBackend("tiny", ["http://fake:8000"], transport=fake.transport(), client=client)
    return server, fake


def test_the_server_backend_asks_for_n_seeded_samples_per_prompt(tiny: str) -> None:
    server, fake = _server(tiny)
    fake.knobs.requests.clear()
    sampled = server.sample(REQUESTS[:3], settings=SPREAD, max_new_tokens=4)
    assert [len(samples) for samples in sampled] == [4, 4, 4]
    bodies = [r["body"] for r in fake.knobs.requests if r["path"] == "/v1/completions"]
    assert len(bodies) == 3
    assert all(body["n"] == 4 and len(body["prompt"]) == 1 for body in bodies)
    assert {body["temperature"] for body in bodies} == {1.5}
    assert {body["top_k"] for body in bodies} == {-1}  # vLLM's "no filter"
    assert len({body["seed"] for body in bodies}) == 3
    assert all(body["repetition_penalty"] == 1.0 for body in bodies)
    again = server.sample(REQUESTS[:3], settings=SPREAD, max_new_tokens=4)
    assert _tokens(again) == _tokens(sampled)  # the server's sampler, seeded per prompt
    # The server's log-probabilities are read as they come (its own sampler drew the tokens).
    for samples in sampled:
        for sample in samples:
            assert len(sample.token_logprobs) == len(sample.token_ids)


def test_a_server_that_cannot_generate_cannot_sample_either(tiny: str) -> None:
    server, _ = _server(tiny, Knobs(no_token_ids=True))
    assert "sample" in server.unavailable_operations()
    with pytest.raises(InputError, match="cannot sample"):
        server.sample(REQUESTS[:1], settings=SPREAD, max_new_tokens=2)
