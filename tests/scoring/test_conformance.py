"""Conformance: every scoring strategy, generation, fine-tuning loss and detector NLL against a plain forward.

For each decoder family users bring, a tiny random model is built from its config (no download), with
sliding windows or chunks of 8 tokens where the family has them, and contexts of 21-45 tokens, longer than
any window. Every strategy llmcal may run on the model must give what one plain, unpadded, single-sequence
forward gives (<= 1e-4, float32): continuation log-likelihoods, greedy tokens (equal to ``model.generate``)
and their log-probabilities, the fine-tuning option scores, loss and gradients, and the detector's NLL. A
strategy the model is refused is checked to be refused for a reason: forced onto an ALiBi model, packing
is measurably wrong.

docs/conformance.md is rendered from these families by :func:`conformance_table`; a test fails when it is
stale (``LLMCAL_WRITE_CONFORMANCE=1 pytest tests/scoring/test_conformance.py`` rewrites it).
"""

from __future__ import annotations

import functools
import os
import warnings
from pathlib import Path
from typing import Any

import pytest
import torch

from llmcal.errors import InputError
from llmcal.finetune.losses import LabelSmoothingConfig, LossInputs, label_smoothing_loss
from llmcal.finetune.packing import PackedExample, collate, option_log_likelihoods
from llmcal.finetune.trainer import option_scores_of
from llmcal.scoring import attention
from llmcal.scoring.generation import GenerationBatch, greedy_generate
from llmcal.scoring.hf import STRATEGIES, HFBackend
from llmcal.scoring.tokenization import EncodedRequest

VOCAB = 256
WINDOW = 8
COMMON = {
    "vocab_size": VOCAB,
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 4,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 256,
    "pad_token_id": 0,
    "bos_token_id": 1,
    "eos_token_id": 2,
}
ALTERNATING = ["sliding_attention", "full_attention"] * 2
# family label -> (model_type, config fields besides COMMON)
FAMILIES: dict[str, tuple[str, dict[str, Any]]] = {
    "llama": ("llama", {}),
    "mistral": ("mistral", {"sliding_window": WINDOW}),
    "mixtral": ("mixtral", {"sliding_window": WINDOW, "num_local_experts": 4}),
    "qwen2": ("qwen2", {"use_sliding_window": True, "sliding_window": WINDOW, "max_window_layers": 2}),
    "qwen3": ("qwen3", {"use_sliding_window": True, "sliding_window": WINDOW, "max_window_layers": 2}),
    "gemma": ("gemma", {"head_dim": 16}),
    "gemma2": ("gemma2", {"sliding_window": WINDOW, "head_dim": 16}),
    "gemma3 (text)": ("gemma3_text", {"sliding_window": WINDOW, "layer_types": ALTERNATING, "head_dim": 16}),
    "gemma3 (text, eager)": (
        "gemma3_text",
        {"sliding_window": WINDOW, "layer_types": ALTERNATING, "head_dim": 16, "attn": "eager"},
    ),
    "phi3": ("phi3", {"sliding_window": WINDOW}),
    "phi": ("phi", {}),
    "gpt2": ("gpt2", {}),
    "gpt_neox": ("gpt_neox", {}),
    "gptj": ("gptj", {"rotary_dim": 8}),
    "opt": ("opt", {"word_embed_proj_dim": 64, "ffn_dim": 128}),
    "falcon": ("falcon", {"num_kv_heads": 2}),
    "falcon (ALiBi)": ("falcon", {"num_kv_heads": 2, "alibi": True}),
    "bloom (ALiBi)": ("bloom", {}),
    "mpt (ALiBi)": ("mpt", {"d_model": 64, "n_heads": 4, "n_layers": 2}),
    "olmo2": ("olmo2", {}),
    "olmo3": ("olmo3", {"sliding_window": WINDOW}),
    "granite": ("granite", {}),
    "starcoder2": ("starcoder2", {"sliding_window": WINDOW}),
    "stablelm": ("stablelm", {}),
    "cohere": ("cohere", {}),
    "cohere2": ("cohere2", {"sliding_window": WINDOW}),
    "smollm3": ("smollm3", {}),
    "gpt_oss": ("gpt_oss", {"sliding_window": WINDOW, "num_local_experts": 4, "head_dim": 16}),
    "llama4 (text, chunked)": (
        "llama4_text",
        {
            "attention_chunk_size": WINDOW,
            "num_local_experts": 2,
            "head_dim": 16,
            "intermediate_size_mlp": 128,
            "no_rope_layers": [1, 1, 1, 0],
        },
    ),
}
TOLERANCE = 1e-4


@functools.cache
def family_model(family: str) -> Any:
    """The family's tiny random model in float32 eval mode (sdpa where it has it, else eager)."""
    from transformers import AutoConfig, AutoModelForCausalLM
    from transformers.utils import logging

    model_type, fields = FAMILIES[family]
    fields = dict(fields)
    wanted = fields.pop("attn", "sdpa")
    logging.set_verbosity_error()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        config = AutoConfig.for_model(model_type, **{**COMMON, **fields})
        torch.manual_seed(0)
        try:
            model = AutoModelForCausalLM.from_config(config, attn_implementation=wanted)
        except ValueError:  # no sdpa kernel for this family
            model = AutoModelForCausalLM.from_config(config, attn_implementation="eager")
    return model.float().eval()


class _Tokenizer:
    """Stands in for a tokenizer where llmcal only needs ids, an end-of-text id and decoding."""

    pad_token_id = 0
    eos_token_id = 2
    bos_token_id = 1

    def decode(self, tokens: list[int], skip_special_tokens: bool = False) -> str:
        return " ".join(f"t{token}" for token in tokens)


def backend_for(family: str, strategy: str) -> HFBackend:
    return HFBackend(
        family, model_object=family_model(family), tokenizer=_TokenizerForBackend(), device="cpu",
        dtype="float32", batch_size=4, strategy=strategy,  # type: ignore[arg-type]
    )  # fmt: skip


class _TokenizerForBackend(_Tokenizer):
    """What :class:`HFBackend` reads of a tokenizer when requests come already encoded."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("requests are encoded by the test")

    def __len__(self) -> int:
        return VOCAB


def random_requests(seed: int = 1) -> list[EncodedRequest]:
    """Three requests of 21-45 context tokens (longer than any window) and continuations of 1, 5 and 12."""
    generator = torch.Generator().manual_seed(seed)

    def tokens(n: int) -> list[int]:
        return torch.randint(3, VOCAB, (n,), generator=generator).tolist()

    return [EncodedRequest(i, str(i), tokens(21 + 12 * i), [tokens(n) for n in (1, 5, 12)]) for i in range(3)]


def plain_logprobs(model: Any, context: list[int], continuation: list[int]) -> list[float]:
    """The continuation's token log-probabilities from one unpadded forward of context + continuation."""
    with torch.no_grad():
        logprobs = model(torch.tensor([context + continuation])).logits[0].float().log_softmax(-1)
    return [float(logprobs[len(context) - 1 + j, token]) for j, token in enumerate(continuation)]


def admitted(family: str) -> dict[str, str]:
    """Strategy -> "exact" or the reason it is refused, as :class:`HFBackend` decides for this model."""
    verdicts = {}
    for strategy in STRATEGIES[1:]:
        try:
            backend_for(family, strategy)
            verdicts[strategy] = "exact"
        except InputError as error:
            verdicts[strategy] = str(error)
    return verdicts


@pytest.mark.parametrize("family", list(FAMILIES))
def test_every_strategy_the_model_may_run_scores_like_a_plain_forward(family: str) -> None:
    model = family_model(family)
    requests = random_requests()
    verdicts = admitted(family)
    assert verdicts["padded"] == "exact"  # the fallback is open to every model
    for strategy, verdict in verdicts.items():
        if verdict != "exact":
            continue
        scored = backend_for(family, strategy).score_encoded(requests)
        for request, scores in zip(requests, scored, strict=True):
            for continuation, score in zip(request.continuations, scores, strict=True):
                expected = plain_logprobs(model, request.context, continuation)
                assert score.token_logprobs == pytest.approx(expected, abs=TOLERANCE), strategy
    auto = backend_for(family, "auto").resolved_strategy()
    assert auto == ("packed" if verdicts["packed"] == "exact" else "padded")


def _drift(family: str) -> float:
    """The largest gap between packed scores and plain-forward ones (packing forced where refused)."""
    model, requests = family_model(family), random_requests()
    scored = backend_for(family, "packed").score_encoded(requests)
    return max(
        abs(value - reference)
        for request, scores in zip(requests, scored, strict=True)
        for continuation, score in zip(request.continuations, scores, strict=True)
        for value, reference in zip(
            score.token_logprobs, plain_logprobs(model, request.context, continuation), strict=True
        )
    )


_FULL = attention.AttentionPattern({"full_attention": attention.LayerRule()}, per_layer_type=False)


@pytest.mark.parametrize(
    "family",
    [
        f
        for f, (_, fields) in FAMILIES.items()
        if "sliding_window" in fields or "attention_chunk_size" in fields
    ],
)
def test_packing_without_the_models_windows_would_be_wrong(
    family: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The windows matter at these lengths: packed rows with a plain block mask drift from the truth."""
    monkeypatch.setattr("llmcal.scoring.hf.attention_pattern", lambda config: _FULL)
    assert _drift(family) > 1e-2


@pytest.mark.parametrize("family", [f for f in FAMILIES if "ALiBi" in f])
def test_packing_an_alibi_model_would_be_wrong(family: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Why ALiBi families get the fallback: forced past the refusal, packed scores drift from the truth."""
    monkeypatch.setattr("llmcal.scoring.hf.packing_refusal", lambda config: None)
    monkeypatch.setattr("llmcal.scoring.hf.attention_pattern", lambda config: _FULL)
    try:
        drift = _drift(family)
    except (RuntimeError, TypeError, ValueError):
        return  # the model does not even take the packed mask
    assert drift > 1e-2


@pytest.mark.parametrize("family", list(FAMILIES))
def test_greedy_generation_equals_generate_and_a_plain_forward(family: str) -> None:
    model = family_model(family)
    prompts = [request.context for request in random_requests(seed=2)]  # 21, 33 and 45 tokens: left padding
    batch = GenerationBatch([0, 1, 2], prompts, [(), (), ()])
    with torch.no_grad():
        generated = greedy_generate(
            model, _Tokenizer(), batch, max_new_tokens=6, eos_ids=frozenset({2}), pad_id=0,
            device=torch.device("cpu"),
        )  # fmt: skip
    for index, generation in generated:
        prompt = prompts[index]
        with torch.no_grad():
            reference = model.generate(
                torch.tensor([prompt]), attention_mask=torch.ones(1, len(prompt), dtype=torch.long),
                do_sample=False, max_new_tokens=6, eos_token_id=2, pad_token_id=0,
            )[0, len(prompt) :].tolist()  # fmt: skip
        assert list(generation.token_ids) == reference
        expected = plain_logprobs(model, prompt, list(generation.token_ids))
        assert list(generation.token_logprobs) == pytest.approx(expected, abs=TOLERANCE)


def training_examples() -> list[PackedExample]:
    """Two items with ragged option counts, as :func:`llmcal.finetune.packing.pack_items` lays them out."""
    examples = []
    for number, request in enumerate(random_requests(seed=3)[:2]):
        options = request.continuations[: 3 - number]
        ids, positions = list(request.context), list(range(len(request.context)))
        segment = [-1] * len(ids)
        targets = []
        for option, tokens in enumerate(options):
            start = len(ids)
            ids.extend(tokens[:-1])
            positions.extend(range(len(request.context), len(request.context) + len(tokens) - 1))
            segment.extend([option] * (len(tokens) - 1))
            sources = [len(request.context) - 1, *range(start, start + len(tokens) - 1)]
            targets.append(tuple(zip(sources, tokens, strict=True)))
        examples.append(PackedExample(tuple(ids), tuple(positions), tuple(segment), tuple(targets), number))
    return examples


def _plain_option_scores(model: Any, examples: list[PackedExample]) -> torch.Tensor:
    """Each option scored by its own unpadded forward, with gradients."""
    rows = []
    for example in examples:
        context = [t for t, s in zip(example.input_ids, example.segment, strict=True) if s == -1]
        row = []
        for pairs in example.targets:
            tokens = [token for _, token in pairs]
            logprobs = model(torch.tensor([context + tokens[:-1]])).logits[0].float().log_softmax(-1)
            row.append(sum(logprobs[len(context) - 1 + j, t] for j, t in enumerate(tokens)))
        rows.append(torch.stack(row))
    width = max(len(row) for row in rows)
    return torch.stack([torch.nn.functional.pad(r, (0, width - len(r)), value=float("-inf")) for r in rows])


def _loss_and_gradients(
    model: Any, scores: torch.Tensor, examples: list[PackedExample]
) -> tuple[float, dict]:
    labels = torch.tensor([example.label for example in examples])
    mask = torch.isfinite(scores)
    loss = label_smoothing_loss(LossInputs(scores, labels, option_mask=mask), LabelSmoothingConfig(0.1))
    model.zero_grad()
    loss.backward()
    gradients = {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}
    return float(loss.detach()), gradients


@pytest.mark.parametrize("family", list(FAMILIES))
def test_fine_tuning_loss_gradients_and_detector_nll_equal_a_plain_forward(family: str) -> None:
    model, examples = family_model(family), training_examples()
    pattern = attention.packing_pattern(model.config)
    batch = collate(examples, 0, pattern)
    assert ("position_ids" in batch) == (pattern is not None)  # packed where proven, else a row per option
    loss, gradients = _loss_and_gradients(model, option_log_likelihoods(model, batch), examples)
    reference_scores = _plain_option_scores(model, examples)
    reference_loss, reference_gradients = _loss_and_gradients(model, reference_scores, examples)
    assert loss == pytest.approx(reference_loss, abs=TOLERANCE)
    assert gradients.keys() == reference_gradients.keys()
    for name, gradient in gradients.items():
        torch.testing.assert_close(gradient, reference_gradients[name], atol=TOLERANCE, rtol=0, msg=name)
    # The detector's NLL: the gold option's score under the model in eval mode, as the trainer computes it.
    nll = -option_scores_of(model, examples, pad_id=0).gather(1, torch.tensor([[0], [1]])).squeeze(1)
    expected = -reference_scores.detach().gather(1, torch.tensor([[0], [1]])).squeeze(1)
    torch.testing.assert_close(nll, expected, atol=TOLERANCE, rtol=0)


# -- the table in docs/ --------------------------------------------------------------------------------

DOCS = Path(__file__).resolve().parents[2] / "docs" / "conformance.md"
_HEADER = """# Conformance: which scoring strategy each model family gets

Generated by `tests/scoring/test_conformance.py` (`LLMCAL_WRITE_CONFORMANCE=1 pytest
tests/scoring/test_conformance.py` rewrites it; the test fails when this file is stale). For each family a
tiny random model is built from its config, with sliding windows or chunks of {window} tokens where the
family has them and contexts of 21-45 tokens. Every strategy marked *exact* gives the continuation
log-likelihoods of one plain, unpadded forward to {tolerance:g} (float32); greedy generation equals
`model.generate` token for token with log-probabilities to {tolerance:g}; fine-tuning option scores, loss,
gradients and the detector NLL equal those of plain forwards to {tolerance:g}, packed where packing is
exact, one row per option otherwise. A refused strategy exits 2 with the reason when asked for by name;
`auto` picks packed where it is exact and the padded fallback elsewhere.

| family | model_type | attention | auto | packed | cached | padded | generation | fine-tuning rows |
|---|---|---|---|---|---|---|---|---|
"""


def _cell(verdict: str) -> str:
    return "exact" if verdict == "exact" else "refused"


def conformance_table() -> str:
    lines = []
    refusals = {}
    for family, (model_type, _) in FAMILIES.items():
        model = family_model(family)
        verdicts = admitted(family)
        pattern = attention.packing_pattern(model.config)
        kind = pattern.describe() if pattern is not None else "the model's own"
        if pattern is not None:
            kind = kind.replace(f"window {WINDOW}", "window").replace(f"chunk {WINDOW}", "chunk")
        auto = "packed" if verdicts["packed"] == "exact" else "padded"
        rows = "packed" if attention.packing_pattern(model.config) is not None else "one per option"
        cells = [_cell(verdicts[s]) for s in ("packed", "cached", "padded")]
        lines.append(
            f"| {family} | `{model_type}` | {kind} | {auto} | {' | '.join(cells)} | exact | {rows} |"
        )
        for strategy in ("packed", "cached"):
            if verdicts[strategy] != "exact":
                refusals.setdefault(strategy, []).append(f"- {family}: {verdicts[strategy]}")
    text = _HEADER.format(window=WINDOW, tolerance=TOLERANCE) + "\n".join(lines) + "\n"
    for strategy, reasons in refusals.items():
        text += f"\nWhy `{strategy}` is refused (the message a user sees):\n\n" + "\n".join(reasons) + "\n"
    return text


def test_the_conformance_table_in_docs_is_current() -> None:
    table = conformance_table()
    if os.environ.get("LLMCAL_WRITE_CONFORMANCE"):
        DOCS.write_text(table, encoding="utf-8")
    assert DOCS.read_text(encoding="utf-8") == table, (
        "docs/conformance.md is stale: see this module's docstring"
    )
