"""A model's own attention pattern on packed rows, and the model families where packing is proven exact.

Packed scoring and packed fine-tuning (:mod:`llmcal.scoring.packing`, :mod:`llmcal.finetune.packing`) put a
shared context and several continuations in one row and hand the model a 4D attention mask of their own.
``transformers`` takes a user-supplied 4D mask as it is, so whatever the model would have built itself is
bypassed: sliding windows (Mistral, Gemma 2/3, Cohere 2, OLMo 3, gpt-oss...), chunked attention, and
position biases computed from a 2D mask (ALiBi in BLOOM, MPT). :func:`block_mask` therefore rebuilds the
model's per-layer rules on the packed row, on *logical* positions (a continuation token at row index 40
may be position 25): a key is visible when the block structure allows it, and also within the layer's
window (``query - key < window``, as ``transformers``' ``sliding_window_overlay``) or chunk
(``query // chunk == key // chunk``). Models whose layers differ get one mask per layer type, the dict their
forward accepts in place of a mask.

Which families this is exact for is measured, not assumed: :data:`PACKING_FAMILIES` lists the
``model_type`` values that ``tests/scoring/test_conformance.py`` proves equal to a plain, unpadded forward
(scores, generation, fine-tuning loss and gradients, <= 1e-4 in float32) with windows shorter than the
prompts; that test also fails if this table claims a family it cannot prove, or omits one it can. Any
other model is scored by the exact fallback (``padded``: each context + continuation its own row, through
the model's own mask code), and :func:`packing_refusal` says why.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch

__all__ = [
    "PACKING_FAMILIES",
    "AttentionPattern",
    "LayerRule",
    "attention_pattern",
    "block_mask",
    "model_mask",
    "packing_pattern",
    "packing_refusal",
]

PatternSource = Literal["full", "layer_types", "sliding_window"]

# model_type -> where its attention pattern is read from:
# - "full": every layer is plain causal (window-looking config fields, if any, are not used by its code);
# - "layer_types": ``config.layer_types`` names each layer's kind (full, sliding or chunked attention);
# - "sliding_window": every layer slides over ``config.sliding_window`` tokens when it is set.
# Proven exact by tests/scoring/test_conformance.py; docs/conformance.md is generated from that test.
PACKING_FAMILIES: dict[str, PatternSource] = {
    "llama": "full",
    "mistral": "sliding_window",
    "mixtral": "sliding_window",
    "qwen2": "layer_types",
    "qwen3": "layer_types",
    "gemma": "full",
    "gemma2": "layer_types",
    "gemma3_text": "layer_types",
    "phi3": "sliding_window",
    "gpt2": "full",
    "gpt_neox": "full",
    "gptj": "full",
    "opt": "full",
    "olmo2": "full",
    "olmo3": "layer_types",
    "granite": "full",
    "starcoder2": "sliding_window",
    "cohere": "full",
    "cohere2": "layer_types",
    "falcon": "full",  # unless its config sets ``alibi`` (refused below)
    "stablelm": "full",
    "phi": "full",
    "smollm3": "layer_types",
    "gpt_oss": "layer_types",
    "llama4_text": "layer_types",
}

# Why a family is not packed, where the reason is known (others: "not proven by the conformance test").
_NOT_PACKABLE = {
    "bloom": "its ALiBi position bias is computed from a 2D padding mask, so packed rows would shift it",
    "mpt": "its ALiBi position bias is computed from sequence indices, not position ids",
}
# Families packed unless a config flag turns on a position bias computed from a 2D padding mask.
_ALIBI_FLAGS = {"falcon": "alibi"}


@dataclass(frozen=True)
class LayerRule:
    """What a layer's query may see beyond causality: the last ``window`` positions, or its own chunk."""

    window: int | None = None
    chunk: int | None = None

    @property
    def full(self) -> bool:
        """Whether the layer attends to every earlier token."""
        return self.window is None and self.chunk is None


@dataclass(frozen=True)
class AttentionPattern:
    """The attention rule of each layer type of a model.

    Attributes:
        rules: Layer type (as the model names it: ``full_attention``, ``sliding_attention``,
            ``chunked_attention``) -> its rule.
        per_layer_type: Whether the model takes a dict of masks keyed by layer type (its layers differ).
    """

    rules: dict[str, LayerRule]
    per_layer_type: bool

    @property
    def full(self) -> bool:
        """Whether every layer attends to every earlier token (a KV cache then holds the whole context)."""
        return all(rule.full for rule in self.rules.values())

    def describe(self) -> str:
        """One phrase, e.g. ``"full attention"`` or ``"sliding_attention window 512, full_attention"``."""
        if self.full:
            return "full attention"
        parts = []
        for name, rule in self.rules.items():
            detail = f" window {rule.window}" if rule.window else f" chunk {rule.chunk}" if rule.chunk else ""
            parts.append(name + detail)
        return ", ".join(parts)


def _positive(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def attention_pattern(config: Any) -> AttentionPattern | None:
    """The per-layer attention rules of a model of an admitted family, else ``None``."""
    source = PACKING_FAMILIES.get(getattr(config, "model_type", ""))
    if source is None:
        return None
    window = _positive(getattr(config, "sliding_window", None))
    if source == "full":
        return AttentionPattern({"full_attention": LayerRule()}, per_layer_type=False)
    if source == "sliding_window":
        rule = LayerRule(window=window)
        return AttentionPattern({"sliding_attention" if window else "full_attention": rule}, False)
    known = {
        "full_attention": LayerRule(),
        "sliding_attention": LayerRule(window=window),
        "chunked_attention": LayerRule(chunk=_positive(getattr(config, "attention_chunk_size", None))),
    }
    layer_types = list(getattr(config, "layer_types", None) or ["full_attention"])
    if any(kind not in known for kind in layer_types):
        return None
    if any(kind != "full_attention" and known[kind].full for kind in layer_types):
        return None  # a sliding or chunked layer without its size: nothing to reproduce it from
    rules = {kind: known[kind] for kind in dict.fromkeys(layer_types)}
    return AttentionPattern(rules, per_layer_type=len(rules) > 1)


def packing_refusal(config: Any) -> str | None:
    """Why packed rows cannot be proven exact for this model, or ``None`` when they are."""
    model_type = getattr(config, "model_type", "") or "unknown"
    implementation = getattr(config, "_attn_implementation", None)
    if implementation not in ("sdpa", "eager"):
        return f"its attention implementation is {implementation!r}, which does not take a 4D attention mask"
    if model_type in _NOT_PACKABLE:
        return f"{model_type}: {_NOT_PACKABLE[model_type]}"
    if getattr(config, _ALIBI_FLAGS.get(model_type, ""), False):
        return f"{model_type} with ALiBi: its position bias is computed from a 2D padding mask"
    if model_type not in PACKING_FAMILIES:
        return f"model type {model_type!r} is not among the families the conformance test proves exact"
    if attention_pattern(config) is None:
        layer_types = sorted(set(getattr(config, "layer_types", None) or []))
        return f"{model_type}: layer types {layer_types} are not ones llmcal can reproduce on packed rows"
    return None


def packing_pattern(config: Any) -> AttentionPattern | None:
    """The model's pattern where packed rows are proven exact for it, else ``None`` (one row per option)."""
    return None if packing_refusal(config) else attention_pattern(config)


def model_mask(
    allowed: torch.Tensor | dict[str, torch.Tensor], implementation: str, dtype: torch.dtype
) -> torch.Tensor | dict[str, torch.Tensor]:
    """Boolean mask(s) as the model's attention takes them: as they are for sdpa, additive for eager.

    Eager attention adds the mask to its scores: 0 where allowed, the dtype's minimum elsewhere.
    """
    if isinstance(allowed, dict):
        return {name: _one_model_mask(mask, implementation, dtype) for name, mask in allowed.items()}
    return _one_model_mask(allowed, implementation, dtype)


def _one_model_mask(allowed: torch.Tensor, implementation: str, dtype: torch.dtype) -> torch.Tensor:
    if implementation != "eager":
        return allowed
    return torch.zeros(allowed.shape, dtype=dtype, device=allowed.device).masked_fill_(
        ~allowed, torch.finfo(dtype).min
    )


def block_mask(
    segments: torch.Tensor, positions: torch.Tensor, pattern: AttentionPattern
) -> torch.Tensor | dict[str, torch.Tensor]:
    """The attention mask of packed rows under each layer type's rule (True = the query may see the key).

    Args:
        segments: ``(rows, width)``: 0 for the shared context, ``k >= 1`` for the k-th branch (continuation),
            -1 for padding. A query sees earlier keys of its own segment and of the shared context, which
            must come first in its row; padding sees only earlier padding (so its softmax is defined).
        positions: ``(rows, width)`` the logical position of each token (branches restart after the context).
        pattern: The model's rules (:func:`attention_pattern`).

    Returns:
        A ``(rows, 1, width, width)`` boolean mask, or a dict of them keyed by layer type when
        ``pattern.per_layer_type``.
    """
    index = torch.arange(segments.shape[1], device=segments.device)
    causal = index.unsqueeze(1) >= index.unsqueeze(0)  # (queries, keys)
    same = segments.unsqueeze(2) == segments.unsqueeze(1)  # (rows, queries, keys)
    context_key = (segments == 0).unsqueeze(1) & (segments >= 0).unsqueeze(2)
    allowed = causal & (same | context_key)
    distance = positions.unsqueeze(2) - positions.unsqueeze(1)  # query position - key position
    masks = {}
    for name, rule in pattern.rules.items():
        mask = allowed
        if rule.window is not None:
            mask = mask & (distance < rule.window)
        if rule.chunk is not None:
            mask = mask & (positions.unsqueeze(2) // rule.chunk == positions.unsqueeze(1) // rule.chunk)
        masks[name] = mask.unsqueeze(1)
    if pattern.per_layer_type:
        return masks
    return next(iter(masks.values()))
