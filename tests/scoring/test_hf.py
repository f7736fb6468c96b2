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


def other_architecture(tiny_model_dir, tmp_path, architecture, strategy="auto"):
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
    return HFBackend(str(tmp_path), device="cpu", dtype="float32", batch_size=3, strategy=strategy)


@pytest.mark.parametrize("strategy", ["packed", "cached"])
@pytest.mark.parametrize("architecture", ["llama", "qwen2", "mistral"])
def test_other_architectures_score_like_a_full_forward_pass(tiny_model_dir, tmp_path, architecture, strategy):
    other = other_architecture(tiny_model_dir, tmp_path, architecture, strategy)
    for request, scores in zip(REQUESTS, other.score(REQUESTS), strict=True):
        for continuation, score in zip(request.continuations, scores, strict=True):
            assert score.token_logprobs == pytest.approx(
                reference_logprobs(other, request.context, continuation), abs=1e-4
            )


@pytest.mark.parametrize("strategy", ["packed", "cached"])
@pytest.mark.parametrize("batch_size", [1, 2, 5, "auto"])
def test_scores_equal_a_full_forward_pass(backend, batch_size, strategy):
    backend.batch_size, backend.strategy = batch_size, strategy
    scored = backend.score(REQUESTS)
    for request, scores in zip(REQUESTS, scored, strict=True):
        assert len(scores) == len(request.continuations)
        for continuation, score in zip(request.continuations, scores, strict=True):
            expected = reference_logprobs(backend, request.context, continuation)
            assert score.token_logprobs == pytest.approx(expected, abs=1e-4)
            assert score.total == pytest.approx(sum(expected), abs=1e-4)


@pytest.mark.parametrize("strategy", ["packed", "cached"])
def test_greedy_flag_matches_the_argmax(backend, strategy):
    backend.strategy = strategy
    context = "The quick brown fox"
    with torch.no_grad():
        best = int(backend.model(torch.tensor([backend.tokenizer.encode(context)])).logits[0, -1].argmax())
    requests = [*REQUESTS, ScoringRequest(context, (backend.tokenizer.decode([best]),))]
    flags = [score.is_greedy for scores in backend.score(requests) for score in scores]
    expected = [reference(backend, r.context, c)[1] for r in requests for c in r.continuations]
    assert flags == expected
    assert flags[-1]  # the model's own next token is greedy


def test_packed_and_cached_strategies_agree(backend):
    backend.batch_size = 2
    scored = {}
    for strategy in ("packed", "cached"):
        backend.strategy = strategy
        scored[strategy] = backend.score(REQUESTS)
    for packed, cached in zip(scored["packed"], scored["cached"], strict=True):
        for one, other in zip(packed, cached, strict=True):
            assert one.token_logprobs == pytest.approx(other.token_logprobs, abs=1e-5)
            assert one.is_greedy == other.is_greedy


def test_auto_scores_a_batch_in_one_forward_pass(backend):
    backend.batch_size, backend.strategy = "auto", "auto"
    calls = []
    handle = backend.model.register_forward_hook(lambda *_: calls.append(1))
    try:
        backend.score(REQUESTS)
    finally:
        handle.remove()
    assert len(calls) == 1  # five short requests fit one batch: context and continuations in one pass


@pytest.mark.parametrize("strategy", ["packed", "cached"])
def test_eager_attention_takes_the_block_mask_as_added_scores(tiny_model_dir, strategy):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, attn_implementation="eager")
    eager = HFBackend(
        "eager",
        device="cpu",
        dtype="float32",
        model_object=model,
        tokenizer=AutoTokenizer.from_pretrained(tiny_model_dir),
        strategy=strategy,
    )
    for request, scores in zip(REQUESTS, eager.score(REQUESTS), strict=True):
        for continuation, score in zip(request.continuations, scores, strict=True):
            expected = reference_logprobs(eager, request.context, continuation)
            assert score.token_logprobs == pytest.approx(expected, abs=1e-4)


def test_attention_that_cannot_take_a_block_mask_falls_back_to_padded_rows(tiny_model_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    model.config._attn_implementation = "flash_attention_2"
    with pytest.raises(InputError, match=r"strategy 'packed' cannot be exact.*'flash_attention_2'.*'padded'"):
        HFBackend("flash", device="cpu", model_object=model, tokenizer=tokenizer, strategy="packed")
    told: list[str] = []
    fallback = HFBackend(
        "flash", device="cpu", model_object=model, tokenizer=tokenizer, on_status=told.append
    )
    assert fallback.resolved_strategy() == "padded"
    assert told == [
        "Scoring each option in its own row (exact, slower than packing): its attention implementation is "
        "'flash_attention_2', which does not take a 4D attention mask."
    ]
    assert fallback.describe()["strategy"] == "padded"


def test_out_of_memory_halves_the_batch_and_retries(backend, monkeypatch):
    backend.batch_size, backend.strategy = 4, "auto"
    expected = backend.score(REQUESTS)
    forward = backend._forward
    sizes = []

    def small_memory(batch, strategy):
        sizes.append(len(batch))
        if len(batch) > 1:
            raise torch.OutOfMemoryError("out of memory")
        return forward(batch, strategy)

    monkeypatch.setattr(backend, "_forward", small_memory)
    done: list[int] = []
    for scores, wanted in zip(backend.score(REQUESTS, on_progress=done.append), expected, strict=True):
        for score, other in zip(scores, wanted, strict=True):  # other batches, other padding: float noise
            assert score.token_logprobs == pytest.approx(other.token_logprobs, abs=1e-5)
    assert sizes == [4, 2, 1, 1, 2, 1, 1, 1]  # 4 -> 2 + 2 -> 1 + 1 each; the last batch had one request
    assert done == [1] * len(REQUESTS)


def test_out_of_memory_on_a_single_request_is_raised(backend, monkeypatch):
    backend.batch_size = 1

    def no_memory(batch, strategy):
        raise torch.OutOfMemoryError("out of memory")

    monkeypatch.setattr(backend, "_forward", no_memory)
    with pytest.raises(torch.OutOfMemoryError):
        backend.score(REQUESTS[:1])


@pytest.mark.parametrize("batch_size", [2, "auto"])
def test_batches_hold_one_strategy_and_keep_to_the_batch_size(backend, batch_size):
    backend.batch_size, backend.strategy = batch_size, "cached"
    requests = [*REQUESTS, ScoringRequest("", ("x",)), ScoringRequest("The king rides", (" a", " b c"))]
    encoded = backend.encoder.encode(requests)
    batches = list(backend._batches(encoded, None if batch_size == "auto" else batch_size))
    assert sorted(e.index for _, batch in batches for e in batch) == list(range(len(requests)))
    for strategy, batch in batches:
        # A one-token context (the empty one's BOS) has nothing to cache: it is packed.
        assert all((len(e.context) > 1) == (strategy == "cached") for e in batch)
        assert batch_size == "auto" or len(batch) <= batch_size
    assert [len(batch) for _, batch in batches] == ([2, 2, 1, 2] if batch_size == 2 else [5, 2])


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
    with pytest.raises(InputError, match="no such folder"):
        HFBackend(str(tmp_path / "nowhere"), device="cpu")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="Could not load model"):
        HFBackend(str(tmp_path / "empty"), device="cpu")


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
