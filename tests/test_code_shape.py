"""The size limits of docs/architecture.md ("Code shape"), each with its way out: a reason in a docstring.

A module over :data:`MODULE_LINES` lines, or a function over :data:`FUNCTION_LINES` lines or
:data:`FUNCTION_PARAMETERS` parameters, must say why in its docstring, in a sentence that begins with
:data:`REASON` (typer commands: one parameter per command-line option). The point is not the numbers but
that a long thing is long on purpose, and says so where the next reader looks.
"""

from __future__ import annotations

import ast
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[1] / "src" / "llmcal"
MODULE_LINES = 400
FUNCTION_LINES = 60
FUNCTION_PARAMETERS = 8
REASON = "Why it is long:"


def _modules() -> list[Path]:
    return sorted(SOURCE.rglob("*.py"))


def _parameter_count(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    arguments = node.args
    names = [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]
    count = len(names) + (arguments.vararg is not None) + (arguments.kwarg is not None)
    return count - (bool(names) and names[0].arg in ("self", "cls"))


def _explains(node: ast.AST) -> bool:
    docstring = ast.get_docstring(node)  # type: ignore[arg-type]
    return docstring is not None and REASON in docstring


def long_modules() -> list[str]:
    """Modules over the limit whose docstring gives no reason."""
    found = []
    for path in _modules():
        text = path.read_text(encoding="utf-8")
        lines = text.count("\n")
        if lines > MODULE_LINES and not _explains(ast.parse(text)):
            found.append(f"{path.relative_to(SOURCE.parent)}: {lines} lines")
    return found


def long_functions() -> list[str]:
    """Functions over a limit whose docstring gives no reason."""
    found = []
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            lines = (node.end_lineno or node.lineno) - node.lineno + 1
            parameters = _parameter_count(node)
            if (lines > FUNCTION_LINES or parameters > FUNCTION_PARAMETERS) and not _explains(node):
                where = f"{path.relative_to(SOURCE.parent)}:{node.lineno} {node.name}"
                found.append(f"{where}: {lines} lines, {parameters} parameters")
    return found


def test_every_long_module_says_why() -> None:
    assert long_modules() == []


def test_every_long_or_wide_function_says_why() -> None:
    assert long_functions() == []


def test_the_check_sees_a_long_function_and_accepts_its_reason(tmp_path, monkeypatch) -> None:
    body = "\n".join(f"    x{i} = {i}" for i in range(FUNCTION_LINES))
    package = tmp_path / "llmcal"
    package.mkdir()
    (package / "long.py").write_text(f"def f(a, b, c, d, e, f, g, h, i):\n{body}\n", encoding="utf-8")
    monkeypatch.setattr(__import__(__name__, fromlist=["SOURCE"]), "SOURCE", package)
    assert long_functions() == ["llmcal/long.py:1 f: 61 lines, 9 parameters"]
    (package / "long.py").write_text(
        f'def f(a, b, c, d, e, f, g, h, i):\n    """Adds.\n\n    {REASON} a test.\n    """\n{body}\n',
        encoding="utf-8",
    )
    assert long_functions() == []
