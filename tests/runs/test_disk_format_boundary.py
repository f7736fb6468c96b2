"""Every on-disk format is written and read in ``llmcal.runs``: no other module imports :mod:`json`.

Exceptions: ``llmcal.importers`` (it reads other tools' files) and ``llmcal.jsonl``, the one strict JSON
codec the layers below ``runs`` route their few files through (a world's files, the lock holder's record,
the GGUF conversion record, input files).
"""

from __future__ import annotations

import ast
from pathlib import Path

SOURCE = Path(__file__).parents[2] / "src" / "llmcal"
# Where JSON may be spoken, relative to src/llmcal: a folder (every module under it) or a module.
ALLOWED = ("runs/", "importers/", "jsonl.py")


def json_imports(source: str) -> list[int]:
    """The lines of ``source`` that import :mod:`json` or a submodule of it, in any form."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module is not None:
            names = [node.module]
        else:
            continue
        if any(name == "json" or name.startswith("json.") for name in names):
            lines.append(node.lineno)
    return sorted(lines)


def is_allowed(relative: str) -> bool:
    return any(relative.startswith(place) if place.endswith("/") else relative == place for place in ALLOWED)


def test_no_module_outside_runs_importers_and_the_codec_imports_json() -> None:
    offenders = [
        f"src/llmcal/{relative}:{line}"
        for path in sorted(SOURCE.rglob("*.py"))
        if not is_allowed(relative := path.relative_to(SOURCE).as_posix())
        for line in json_imports(path.read_text(encoding="utf-8"))
    ]
    assert not offenders, (
        "json imported outside llmcal.runs, llmcal.importers and llmcal.jsonl; read and write the file "
        "through llmcal.runs (a run directory's format) or llmcal.jsonl (a lower layer's): "
        + ", ".join(offenders)
    )


def test_every_form_of_importing_json_is_found() -> None:
    source = (
        "import os\n"
        "import json\n"
        "import json as j, sys\n"
        "from json import dumps\n"
        "from json.decoder import JSONDecodeError\n"
        "import jsonschema\n"
        "from .json import x\n"
        "def f():\n"
        "    import json.encoder\n"
    )
    assert json_imports(source) == [2, 3, 4, 5, 9]


def test_only_runs_importers_and_the_codec_are_allowed() -> None:
    assert is_allowed("runs/records.py")
    assert is_allowed("importers/lm_eval.py")
    assert is_allowed("jsonl.py")
    assert not is_allowed("cli/metrics_command.py")
    assert not is_allowed("world/jsonl.py")
    assert not is_allowed("runs.py")
