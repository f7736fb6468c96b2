"""The KV-reusing scorer against a plain full-sequence forward pass of the same model."""

from __future__ import annotations

import pytest
import torch

from llmcal import InputError
from llmcal.scoring.hf import HFBackend
from llmcal.scoring.requests import ScoringRequest

REQUESTS = [
    ScoringRequest(
        "Question: What is the capital of France?\nAnswer:", (" Paris", " Lyon is a city", " blue")
    ),
    ScoringRequest("The quick brown fox", (" jumps",)),
    ScoringRequest(
        "Mountains rise above the valley ", ("and the king", "x", "queen rides north")
    ),  # trailing space
    ScoringRequest("", ("The dog", " river")),  # empty context: conditioned on the BOS/EOS token
    ScoringRequest("A. red B. green\nAnswer:", (" A", " B", " C", " D", " E")),
]


def reference_logprobs(backend: HFBackend, context: str, continuation: str) -> list[float]:
    return reference(backend, context, continuation)[0]


def reference(backend: HFBackend, context: str, continuation: str) -> tuple[list[float], bool]:
    """One un-batched forward over context + continuation, tokenised the lm-evaluation-harness way."""
    tokenizer = backend.tokenizer
    if context == "":
        context_ids = [backend.prefix_token_id]
        continuation_ids = tokenizer.encode(continuation, add_special_tokens=False)
    else:
        spaces = len(context) - len(context.rstrip())
        if spaces:
            context, continuation = context[:-spaces], context[-spaces:] + continuation
        context_ids = tokenizer.encode(context)
        continuation_ids = tokenizer.encode(context + continuation)[len(context_ids) :]
    ids = torch.tensor([context_ids + continuation_ids])
    with torch.no_grad():
        logprobs = backend.model(ids).logits.float().log_softmax(-1)[0]
    rows = [len(context_ids) - 1 + j for j in range(len(continuation_ids))]
    values = [float(logprobs[row, token]) for row, token in zip(rows, continuation_ids, strict=True)]
    greedy = all(
        int(logprobs[row].argmax()) == token for row, token in zip(rows, continuation_ids, strict=True)
    )
    return values, greedy


@pytest.fixture(scope="module")
def backend(tiny_model_dir):
    return HFBackend(tiny_model_dir, device="cpu", dtype="float32", batch_size="auto")


def other_architecture(tiny_model_dir, tmp_path, architecture):
    """The tiny tokenizer with a randomly initialised model of another family (rotary positions, GQA, ...)."""
    import transformers

    config_class, model_class = {
        "llama": (transformers.LlamaConfig, transformers.LlamaForCausalLM),
        "qwen2": (transformers.Qwen2Config, transformers.Qwen2ForCausalLM),
        "mistral": (transformers.MistralConfig, transformers.MistralForCausalLM),
    }[architecture]
    tokenizer = transformers.AutoTokenizer.from_pretrained(tiny_model_dir)
    torch.manual_seed(0)
    config = config_class(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    model_class(config).save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    return HFBackend(str(tmp_path), device="cpu", dtype="float32", batch_size=3)


@pytest.mark.parametrize("architecture", ["llama", "qwen2", "mistral"])
def test_other_architectures_score_like_a_full_forward_pass(tiny_model_dir, tmp_path, architecture):
    other = other_architecture(tiny_model_dir, tmp_path, architecture)
    for request, scores in zip(REQUESTS, other.score(REQUESTS), strict=True):
        for continuation, score in zip(request.continuations, scores, strict=True):
            assert score.token_logprobs == pytest.approx(
                reference_logprobs(other, request.context, continuation), abs=1e-4
            )


@pytest.mark.parametrize("batch_size", [1, 2, 5, "auto"])
def test_scores_equal_a_full_forward_pass(backend, batch_size):
    backend.batch_size = batch_size
    scored = backend.score(REQUESTS)
    for request, scores in zip(REQUESTS, scored, strict=True):
        assert len(scores) == len(request.continuations)
        for continuation, score in zip(request.continuations, scores, strict=True):
            expected = reference_logprobs(backend, request.context, continuation)
            assert score.token_logprobs == pytest.approx(expected, abs=1e-4)
            assert score.total == pytest.approx(sum(expected), abs=1e-4)


def test_greedy_flag_matches_the_argmax(backend):
    context = "The quick brown fox"
    with torch.no_grad():
        best = int(backend.model(torch.tensor([backend.tokenizer.encode(context)])).logits[0, -1].argmax())
    requests = [*REQUESTS, ScoringRequest(context, (backend.tokenizer.decode([best]),))]
    flags = [score.is_greedy for scores in backend.score(requests) for score in scores]
    expected = [reference(backend, r.context, c)[1] for r in requests for c in r.continuations]
    assert flags == expected
    assert flags[-1]  # the model's own next token is greedy


def test_progress_is_reported_per_request(backend):
    seen: list[int] = []
    backend.score(REQUESTS, on_progress=seen.append)
    assert sum(seen) == len(REQUESTS)


def test_bad_requests_name_the_item(backend):
    with pytest.raises(InputError, match="item-7: nothing to score"):
        backend.score([ScoringRequest("context", (), key="item-7")])


def test_long_contexts_are_truncated_on_the_left(tiny_model_dir):
    short = HFBackend(tiny_model_dir, device="cpu", dtype="float32", max_length=16)
    long_context = "The quick brown fox jumps over the lazy dog near the river bank. " * 10
    scores = short.score([ScoringRequest(long_context, (" Paris",))])[0]
    assert len(scores[0].token_logprobs) >= 1


def test_missing_model_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="Could not load model"):
        HFBackend(str(tmp_path / "nowhere"), device="cpu")


def test_pickled_weights_are_refused_not_unpickled(tiny_model_dir, tmp_path):
    import shutil

    from transformers import AutoModelForCausalLM

    pickled = tmp_path / "pickled"
    shutil.copytree(tiny_model_dir, pickled)
    weights = pickled / "model.safetensors"
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    torch.save(model.state_dict(), pickled / "pytorch_model.bin")  # only a pickle remains
    weights.unlink()
    with pytest.raises(InputError, match="safetensors weights"):
        HFBackend(str(pickled), device="cpu", dtype="float32")
