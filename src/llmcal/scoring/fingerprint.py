"""What identifies a model independently of the path it was loaded from, for resuming runs safely.

A run resumed on other weights would mix two models' records; one resumed on the same weights reached
by another path (a copy, a symlink, another mount) is the same run. :func:`model_fingerprint` therefore
hashes content, in the cheapest form that still pins it:

- a model loaded from a local folder: the SHA-256 of each weight, config and tokenizer file in it;
- a model loaded from the hub: the commit transformers resolved (``config._commit_hash``), which names
  the exact files;
- a model given as an object with neither: the SHA-256 of its parameters and buffers.

Hashing a file reads it once (about 1 GB/s); the digest is cached in llmcal's cache folder under the
file's path, size, modification time and inode, so later runs on unchanged files read nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path
from typing import Any

from llmcal.atomic import write_text_atomic
from llmcal.cache import cache_dir
from llmcal.scoring.models import file_sha256

__all__ = ["FINGERPRINTED_SUFFIXES", "file_digest", "folder_fingerprint", "model_fingerprint"]

# The files of a model folder that determine its outputs: weights, config, tokenizer and chat template.
FINGERPRINTED_SUFFIXES = (".safetensors", ".json", ".model", ".txt", ".tiktoken", ".jinja")
# Written by llmcal beside a de-quantized GGUF model; it records where the GGUF file was, not content.
_IGNORED_FILES = ("llmcal-gguf.json",)
_DIGEST_LENGTH = 16


def file_digest(path: Path) -> str:
    """The SHA-256 of a file (first 16 hex digits), cached under its path, size, mtime and inode."""
    stat = path.stat()
    key = f"{path.resolve()}\0{stat.st_size}\0{stat.st_mtime_ns}\0{stat.st_ino}"
    cached = cache_dir() / "file-digests" / hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]
    try:
        known = cached.read_text(encoding="ascii").strip()
        if len(known) == _DIGEST_LENGTH:
            return known
    except (OSError, UnicodeDecodeError):
        pass  # not cached yet, or unreadable: hash the file
    value = file_sha256(path)[:_DIGEST_LENGTH]
    with contextlib.suppress(OSError):  # a read-only cache only costs the next run the hashing
        write_text_atomic(cached, value + "\n")
    return value


def folder_fingerprint(folder: Path) -> dict[str, str]:
    """Per file of a model folder that determines its outputs (see the suffixes above), its digest."""
    return {
        path.name: file_digest(path)
        for path in sorted(folder.iterdir())
        if path.is_file() and path.suffix in FINGERPRINTED_SUFFIXES and path.name not in _IGNORED_FILES
    }


def model_fingerprint(model: Any) -> dict[str, Any]:
    """The model's identity for a run manifest: its folder's file digests, hub commit, or parameters' hash.

    Args:
        model: A transformers model (its ``config`` says where it was loaded from).
    """
    config = getattr(model, "config", None)
    source = str(getattr(config, "_name_or_path", "") or "")
    if source and os.path.isdir(source):
        return {"files": folder_fingerprint(Path(source))}
    commit = getattr(config, "_commit_hash", None)
    if source and commit:
        return {"hub_commit": str(commit)}
    return {"parameters": _parameters_digest(model)}


def _parameters_digest(model: Any) -> str:
    """The SHA-256 of every parameter and buffer, by name, in their stored bytes."""
    import torch

    digest = hashlib.sha256()
    with torch.no_grad():
        for name, tensor in sorted(model.state_dict().items()):
            digest.update(f"{name}\0{tensor.dtype}\0{tuple(tensor.shape)}\0".encode())
            flat = tensor.detach().to("cpu").contiguous().reshape(-1)
            digest.update(flat.view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:_DIGEST_LENGTH]
