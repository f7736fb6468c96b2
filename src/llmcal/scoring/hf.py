"""Scoring with any Hugging Face causal LM: shared-context KV reuse, length-sorted batches.

For each request the context is encoded once; its KV cache is then replicated across the request's
continuations, which are scored in one batched pass. The forward cost is one pass over the context plus one
over all continuation tokens, instead of one full (context + continuation) pass per option. Continuations
of a single token (letters) need no second pass at all.

Tokenisation follows lm-evaluation-harness exactly (trailing context whitespace moves to the
continuation; the continuation's tokens are those of ``tok(context + continuation)`` after
``len(tok(context))``; an empty context is replaced by the BOS/EOS token), so ``sum`` scores equal its
``loglikelihood`` values.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, cast

import torch

from llmcal.errors import InputError
from llmcal.scoring.requests import ContinuationScore, ProgressCallback, ScoringRequest

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

__all__ = ["HFBackend", "resolve_device", "resolve_dtype"]

DTypeName = Literal["auto", "float32", "float16", "bfloat16"]
_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
# Token budget per batch when the batch size is "auto": contexts x longest context plus continuation
# rows x longest continuation. Sized so a 7B model's activations stay far below a 24 GB card; on CPU it
# mainly bounds memory.
_AUTO_TOKEN_BUDGET = {"cpu": 16_384, "mps": 32_768, "cuda": 131_072}
_AUTO_MAX_ITEMS = 64


def resolve_device(device: str) -> torch.device:
    """``"auto"`` picks cuda, then mps, then cpu; anything else is passed to ``torch.device``."""
    if device != "auto":
        try:
            return torch.device(device)
        except RuntimeError as error:
            raise InputError(f"--device {device!r} is not a torch device ({error}).") from None
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def resolve_dtype(dtype: str, device: torch.device) -> torch.dtype:
    """``"auto"`` is bfloat16 on GPUs that support it and float32 elsewhere (exact CPU scores)."""
    if dtype == "auto":
        if device.type == "cuda" and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float32
    if dtype not in _DTYPES:
        raise InputError(f"--dtype must be one of auto, {', '.join(_DTYPES)}; got {dtype!r}.")
    return _DTYPES[dtype]


@dataclass
class _Encoded:
    """A request after tokenisation; ``index`` is its position in the caller's list."""

    index: int
    key: str
    context: list[int]
    continuations: list[list[int]]

    @property
    def cost(self) -> int:
        return len(self.context) + max(len(c) for c in self.continuations)


class HFBackend:
    """A :class:`~llmcal.scoring.requests.ScoringBackend` over ``transformers`` causal LMs.

    Args:
        model: Hub id or local directory of a causal LM.
        device: ``"auto"`` (cuda > mps > cpu) or a torch device string.
        dtype: ``"auto"``, ``"float32"``, ``"float16"`` or ``"bfloat16"``.
        batch_size: Requests per forward pass, or ``"auto"`` for a token budget per batch (halved and
            retried if the GPU runs out of memory).
        max_length: Longest sequence fed to the model (default: the model's own limit). Longer contexts
            are truncated on the left, as lm-evaluation-harness does.
        revision: Hub revision (branch, tag or commit).
        trust_remote_code: Run code shipped with the model. Off by default: it executes arbitrary Python.
        model_object: An already loaded model (with ``tokenizer``) instead of loading ``model``.
        tokenizer: The tokenizer going with ``model_object``.
    """

    def __init__(
        self,
        model: str,
        *,
        device: str = "auto",
        dtype: str = "auto",
        batch_size: int | Literal["auto"] = "auto",
        max_length: int | None = None,
        revision: str | None = None,
        trust_remote_code: bool = False,
        model_object: PreTrainedModel | None = None,
        tokenizer: PreTrainedTokenizerBase | None = None,
    ) -> None:
        if batch_size != "auto" and (not isinstance(batch_size, int) or batch_size < 1):
            raise InputError(f"--batch-size must be a positive integer or 'auto'; got {batch_size!r}.")
        self.name = model
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(dtype, self.device)
        self.batch_size = batch_size
        self.revision = revision
        if model_object is None or tokenizer is None:
            model_object, tokenizer = self._load(model, revision, trust_remote_code)
        # transformers' own annotations of .to()/.eval() are incomplete; the model is used untyped.
        self.model: Any = cast(Any, model_object)
        self.model.to(device=self.device, dtype=self.dtype)
        self.model.eval()
        self.tokenizer = tokenizer
        self.max_length = max_length or self._model_max_length()
        self.pad_id = next((t for t in (tokenizer.pad_token_id, tokenizer.eos_token_id) if t is not None), 0)
        bos, eos = tokenizer.bos_token_id, tokenizer.eos_token_id
        self.prefix_token_id = bos if bos is not None else eos
        self._prefix_text = (
            str(tokenizer.decode([self.prefix_token_id])) if self.prefix_token_id is not None else None
        )

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
                f"Could not load model {model!r}: {error}. Pass a hub id or a local directory with "
                "config.json, safetensors weights and a tokenizer."
            ) from None
        return loaded, tokenizer

    def _model_max_length(self) -> int:
        config = self.model.config
        for attribute in ("max_position_embeddings", "n_positions", "n_ctx", "seq_length"):
            value = getattr(config, attribute, None)
            if isinstance(value, int) and value > 0:
                return value
        return 2048

    def describe(self) -> dict[str, Any]:
        """Model, revision, dtype and device, for the run manifest.

        The batch size is left out on purpose: a run resumed with a smaller batch (after running out of
        memory, say) is the same run.
        """
        return {
            "backend": "hf",
            "model": self.name,
            "revision": self.revision,
            "dtype": str(self.dtype).removeprefix("torch."),
            "device": str(self.device),
            "max_length": self.max_length,
        }

    # -- tokenisation (mirrors lm-evaluation-harness HFLM so log-likelihoods agree) -----------------

    def _encode(self, text: str, *, add_special_tokens: bool | None = None) -> list[int]:
        kwargs: dict[str, bool] = {}
        if add_special_tokens is not None:
            kwargs["add_special_tokens"] = add_special_tokens
        elif self._prefix_text and text.startswith(self._prefix_text):
            kwargs["add_special_tokens"] = False  # the text already carries its BOS
        return list(self.tokenizer.encode(text, **kwargs))

    def _encode_request(self, index: int, request: ScoringRequest) -> _Encoded:
        if not request.continuations:
            raise InputError(f"{request.key or f'request {index}'}: nothing to score (no continuations).")
        context = request.context
        if context == "":
            encoded = [self._encode(c, add_special_tokens=False) for c in request.continuations]
            # An empty context conditions on the BOS/EOS token, as lm-evaluation-harness does.
            return _Encoded(index, request.key, [self.prefix_token_id], encoded)
        spaces = len(context) - len(context.rstrip())
        moved = context[len(context) - spaces :] if spaces else ""
        context = context[: len(context) - spaces]
        context_ids = self._encode(context)
        continuations = []
        for text in request.continuations:
            whole = self._encode(context + moved + text)
            continuation = whole[len(context_ids) :]
            if not continuation:
                raise InputError(f"{request.key or f'request {index}'}: continuation {text!r} has no tokens.")
            continuations.append(continuation)
        longest = max(len(c) for c in continuations)
        # Keep the sequence within max_length by dropping context tokens on the left (lm-eval does the
        # same per pair; with a shared context the longest continuation decides).
        overflow = len(context_ids) + longest - 1 - self.max_length
        if overflow > 0:
            context_ids = context_ids[overflow:]
        if not context_ids:
            raise InputError(
                f"{request.key or f'request {index}'}: a continuation is longer than max_length."
            )
        return _Encoded(index, request.key, context_ids, continuations)

    # -- batching ------------------------------------------------------------------------------------

    def _batches(self, encoded: list[_Encoded], batch_size: int | None) -> Iterator[list[_Encoded]]:
        """Length-sorted batches, longest first so an out-of-memory error shows up at once."""
        ordered = sorted(encoded, key=lambda e: e.cost, reverse=True)
        budget = _AUTO_TOKEN_BUDGET.get(self.device.type, _AUTO_TOKEN_BUDGET["cpu"])
        batch: list[_Encoded] = []
        for request in ordered:
            if batch and batch_size is not None and len(batch) >= batch_size:
                yield batch
                batch = []
            if batch and batch_size is None:
                rows = sum(len(e.continuations) for e in batch) + len(request.continuations)
                longest = max(len(batch[0].context), len(request.context))
                tokens = (len(batch) + 1) * longest + rows * batch[0].cost
                if tokens > budget or len(batch) >= _AUTO_MAX_ITEMS:
                    yield batch
                    batch = []
            batch.append(request)
        if batch:
            yield batch

    def _run_batches(
        self, requests: Sequence[ScoringRequest], *, on_progress: ProgressCallback | None
    ) -> list[list[ContinuationScore]]:
        encoded = [self._encode_request(index, request) for index, request in enumerate(requests)]
        results: list[list[ContinuationScore]] = [[] for _ in encoded]
        size = None if self.batch_size == "auto" else self.batch_size
        pending = list(self._batches(encoded, size))
        while pending:
            batch = pending.pop(0)
            try:
                with torch.inference_mode():
                    outputs = self._forward(batch)
            except torch.OutOfMemoryError:
                if len(batch) == 1:
                    raise
                torch.cuda.empty_cache()
                half = len(batch) // 2
                pending[:0] = [batch[:half], batch[half:]]
                continue
            for request, output in zip(batch, outputs, strict=True):
                results[request.index] = output
            if on_progress is not None:
                on_progress(len(batch))
        return results

    # -- the forward passes --------------------------------------------------------------------------

    def _context_pass(
        self, batch: list[_Encoded], *, keep_cache: bool
    ) -> tuple[torch.Tensor, torch.Tensor, Any, torch.Tensor]:
        """Left-padded contexts; returns last-position log-probs, attention mask, cache and lengths."""
        width = max(len(e.context) for e in batch)
        input_ids = torch.full((len(batch), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, request in enumerate(batch):
            input_ids[row, width - len(request.context) :] = torch.tensor(request.context)
            mask[row, width - len(request.context) :] = 1
        positions = (mask.cumsum(dim=1) - 1).clamp(min=0)
        output = self.model(
            input_ids=input_ids.to(self.device),
            attention_mask=mask.to(self.device),
            position_ids=positions.to(self.device),
            use_cache=keep_cache,
            logits_to_keep=1,
        )
        last = output.logits[:, -1, :].float()  # (batch, vocab)
        lengths = mask.sum(dim=1)
        return last.log_softmax(dim=-1), mask, output.past_key_values if keep_cache else None, lengths

    def _forward(self, batch: list[_Encoded]) -> list[list[ContinuationScore]]:
        # Single-token continuations (letters) are read off the context pass; no cache is needed.
        multi_token = any(len(c) > 1 for e in batch for c in e.continuations)
        first_logprobs, context_mask, cache, lengths = self._context_pass(batch, keep_cache=multi_token)
        owners = [row for row, e in enumerate(batch) for _ in e.continuations]
        continuations = [c for e in batch for c in e.continuations]
        first_ids = torch.tensor([c[0] for c in continuations], device=self.device)
        first_rows = first_logprobs[torch.tensor(owners, device=self.device)]  # (rows, vocab)
        first_values = first_rows.gather(1, first_ids.unsqueeze(1)).squeeze(1)
        token_logprobs = [[value] for value in first_values.tolist()]
        greedy = (first_rows.argmax(dim=-1) == first_ids).tolist()
        if multi_token:
            self._continuation_pass(
                cache, context_mask, lengths, owners, continuations, token_logprobs, greedy
            )
        results: list[list[ContinuationScore]] = [[] for _ in batch]
        for owner, logprobs, is_greedy in zip(owners, token_logprobs, greedy, strict=True):
            results[owner].append(ContinuationScore(tuple(logprobs), bool(is_greedy)))
        return results

    def _continuation_pass(
        self,
        cache: Any,
        context_mask: torch.Tensor,
        lengths: torch.Tensor,
        owners: list[int],
        continuations: list[list[int]],
        token_logprobs: list[list[float]],
        greedy: list[bool],
    ) -> None:
        """Feeds tokens 1..m-1 of every continuation on top of its context's cache (in place)."""
        rows = torch.tensor(owners)
        cache.batch_select_indices(rows.to(self.device))  # one cache copy per continuation
        width = max(len(c) for c in continuations) - 1
        inputs = torch.full((len(continuations), width), self.pad_id, dtype=torch.long)
        tail_mask = torch.zeros((len(continuations), width), dtype=torch.long)
        for row, tokens in enumerate(continuations):
            inputs[row, : len(tokens) - 1] = torch.tensor(tokens[:-1], dtype=torch.long)
            tail_mask[row, : len(tokens) - 1] = 1
        mask = torch.cat([context_mask[rows], tail_mask], dim=1)
        positions = lengths[rows].unsqueeze(1) + torch.arange(width).unsqueeze(0)
        logits = self.model(
            input_ids=inputs.to(self.device),
            attention_mask=mask.to(self.device),
            position_ids=positions.to(self.device),
            past_key_values=cache,
            use_cache=True,
        ).logits.float()  # (rows, width, vocab)
        targets = torch.full((len(continuations), width), 0, dtype=torch.long)
        for row, tokens in enumerate(continuations):
            targets[row, : len(tokens) - 1] = torch.tensor(tokens[1:], dtype=torch.long)
        targets = targets.to(self.device)
        # log p(target) = logit(target) - logsumexp(logits): no (rows, width, vocab) log-softmax copy.
        values = (logits.gather(2, targets.unsqueeze(2)).squeeze(2) - logits.logsumexp(dim=-1)).cpu()
        hits = (logits.argmax(dim=-1) == targets).cpu()
        for row, tokens in enumerate(continuations):
            steps = len(tokens) - 1
            token_logprobs[row].extend(values[row, :steps].tolist())
            greedy[row] = greedy[row] and bool(hits[row, :steps].all())

    # -- the protocol --------------------------------------------------------------------------------

    def score(
        self, requests: Sequence[ScoringRequest], *, on_progress: ProgressCallback | None = None
    ) -> list[list[ContinuationScore]]:
        """Per-token log-probabilities of every continuation of every request."""
        return self._run_batches(requests, on_progress=on_progress)
