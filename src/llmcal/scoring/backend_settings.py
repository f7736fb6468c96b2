"""How a Hugging Face backend loads and batches a model: device, dtype, batch size, strategy and the rest.

:class:`BackendSettings` holds them, checked when they are made; :func:`resolve_device` and
:func:`resolve_dtype` turn the names into torch objects, before any model loads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypedDict

import torch

from llmcal.errors import InputError

__all__ = [
    "STRATEGIES",
    "BackendOptions",
    "BackendSettings",
    "DTypeName",
    "Strategy",
    "resolve_device",
    "resolve_dtype",
]

DTypeName = Literal["auto", "float32", "float16", "bfloat16"]
Strategy = Literal["auto", "packed", "cached", "padded"]
STRATEGIES: tuple[Strategy, ...] = ("auto", "packed", "cached", "padded")
_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def resolve_device(device: str) -> torch.device:
    """``"auto"`` picks cuda, then mps, then cpu; anything else must be a torch device this machine has.

    Checked before any model loads: ``cuda`` on a CPU-only torch would otherwise fail after loading it.

    Raises:
        InputError: If ``device`` is not a torch device string, or names one that is not available here
            (``cuda`` without a GPU or CUDA build, ``cuda:2`` on a machine with two GPUs, ``mps`` off Apple
            silicon).
    """
    if device != "auto":
        try:
            resolved = torch.device(device)
        except RuntimeError as error:
            raise InputError(
                f"`device` {device!r} is not a torch device ({error}).", parameter="device"
            ) from None
        problem = _unavailable(resolved)
        if problem is not None:
            available = ", ".join(_available_devices())
            raise InputError(
                f"`device` {device}: {problem}; available here: {available}. "
                "Give one of those, or `device=auto`.",
                parameter="device",
            )
        return resolved
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def _unavailable(device: torch.device) -> str | None:
    """Why ``device`` cannot be used on this machine, or ``None`` if it can."""
    if device.type == "cuda":
        if not torch.cuda.is_available():
            if torch.version.cuda is None and getattr(torch.version, "hip", None) is None:
                return f"this torch ({torch.__version__}) is built without CUDA"
            return f"no GPU is visible to torch {torch.__version__}"
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            return f"this machine has {count} CUDA device{'s' if count != 1 else ''}"
    elif device.type == "mps":
        if not torch.backends.mps.is_available():
            return "MPS (Apple silicon GPU) is not available"
    elif device.type != "cpu":
        is_available = getattr(getattr(torch, device.type, None), "is_available", None)
        if not callable(is_available):  # meta, lazy, ...: no accelerator a model runs on
            return f"{device.type} is not a device a model can be run on"
        if not is_available():
            return f"no {device.type} device is available to torch {torch.__version__}"
    return None


def _available_devices() -> list[str]:
    devices = ["cpu"]
    if torch.cuda.is_available():
        devices += [f"cuda:{index}" for index in range(torch.cuda.device_count())]
    if torch.backends.mps.is_available():
        devices.append("mps")
    return devices


def resolve_dtype(dtype: str, device: torch.device) -> torch.dtype:
    """``"auto"`` is bfloat16 on GPUs that support it and float32 elsewhere (exact CPU scores)."""
    if dtype == "auto":
        if device.type == "cuda" and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float32
    if dtype not in _DTYPES:
        raise InputError(
            f"`dtype` must be one of auto, {', '.join(_DTYPES)}; got {dtype!r}.", parameter="dtype"
        )
    return _DTYPES[dtype]


@dataclass(frozen=True)
class BackendSettings:
    """How :class:`~llmcal.scoring.hf.HFBackend` loads a model and batches requests.

    Attributes:
        device: ``"auto"`` (cuda > mps > cpu) or a torch device string.
        dtype: ``"auto"``, ``"float32"``, ``"float16"`` or ``"bfloat16"``.
        batch_size: Requests per forward pass, or ``"auto"`` for a token budget per batch (halved and
            retried if the GPU runs out of memory).
        max_length: Longest sequence fed to the model (default: the model's own limit). Longer contexts
            are truncated on the left, as lm-evaluation-harness does.
        revision: Hub revision (branch, tag or commit).
        trust_remote_code: Run code shipped with the model. Off by default: it executes arbitrary Python.
        strategy: ``"packed"`` (one row per request), ``"padded"`` (one row per option, the model's own
            masks), ``"cached"`` (a context pass keeping its KV cache, then the continuations) or ``"auto"``
            (packed where proven exact on this model's family, else padded; see :mod:`llmcal.scoring.hf`).
            Under ``cached``, requests whose context is a single token are packed: there is nothing to cache.

    Raises:
        InputError: If the batch size is neither a positive integer nor ``"auto"``, or the strategy is
            unknown (device and dtype are checked when resolved, against this machine).
    """

    device: str = "auto"
    dtype: str = "auto"
    batch_size: int | Literal["auto"] = "auto"
    max_length: int | None = None
    revision: str | None = None
    trust_remote_code: bool = False
    strategy: Strategy = "auto"

    def __post_init__(self) -> None:
        batch_size = self.batch_size
        if batch_size != "auto" and (not isinstance(batch_size, int) or batch_size < 1):
            raise InputError(
                f"`batch_size` must be a positive integer or 'auto'; got {batch_size!r}.",
                parameter="batch_size",
            )
        if self.strategy not in STRATEGIES:
            raise InputError(
                f"strategy must be one of {', '.join(STRATEGIES)}; got {self.strategy!r}.",
                parameter="strategy",
            )


class BackendOptions(TypedDict, total=False):
    """:class:`BackendSettings`' fields as keywords of :class:`~llmcal.scoring.hf.HFBackend`.

    ``HFBackend(model, device="cpu", dtype="float32")`` reads as it always did; a test keeps these keys
    the dataclass's fields.
    """

    device: str
    dtype: str
    batch_size: int | Literal["auto"]
    max_length: int | None
    revision: str | None
    trust_remote_code: bool
    strategy: Strategy
