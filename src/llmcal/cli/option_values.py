"""Checking the values of command-line options shared by several commands, with one message each."""

from __future__ import annotations

from typing import cast, get_args

from llmcal.errors import InputError
from llmcal.metrics.validation import BinStrategy
from llmcal.tasks.prompts import PromptFormat
from llmcal.tasks.spec import ClozeStyle

__all__ = [
    "BIN_STRATEGY_CHOICES",
    "CLOZE_STYLE_CHOICES",
    "MODEL_HELP",
    "PROMPT_FORMAT_CHOICES",
    "cloze_style_option",
    "comma_list",
    "prompt_format_option",
    "strategy_option",
]

MODEL_HELP = "hub id, local directory, .gguf file, or a packaged model (see `llmcal models`)"
"""What ``--model`` accepts, for every command's help."""

# The choices of each option as help texts show them, from the library's own lists of names.
PROMPT_FORMAT_CHOICES = " | ".join(get_args(PromptFormat))
CLOZE_STYLE_CHOICES = " | ".join(get_args(ClozeStyle))
BIN_STRATEGY_CHOICES = " | ".join(get_args(BinStrategy))


def _one_of(choices: tuple[str, ...]) -> str:
    """``'a' or 'b'`` / ``'a', 'b' or 'c'``: the names an option takes, for its error message."""
    quoted = [repr(choice) for choice in choices]
    return ", ".join(quoted[:-1]) + " or " + quoted[-1]


def cloze_style_option(value: str) -> ClozeStyle:
    """``--cloze-style``: one of :data:`~llmcal.tasks.spec.ClozeStyle`."""
    if value in get_args(ClozeStyle):
        return cast(ClozeStyle, value)
    raise InputError(f"--cloze-style must be one of {', '.join(get_args(ClozeStyle))}; got {value!r}.")


def prompt_format_option(value: str) -> PromptFormat:
    """``--format``: one of :data:`~llmcal.tasks.prompts.PromptFormat`."""
    if value in get_args(PromptFormat):
        return cast(PromptFormat, value)
    raise InputError(f"--format must be {_one_of(get_args(PromptFormat))}; got {value!r}.")


def strategy_option(value: str) -> BinStrategy:
    """``--strategy``: one of :data:`~llmcal.metrics.validation.BinStrategy` (top-label binning)."""
    if value in get_args(BinStrategy):
        return cast(BinStrategy, value)
    raise InputError(f"--strategy must be {_one_of(get_args(BinStrategy))}; got {value!r}.")


def stop_strings(values: list[str] | None) -> tuple[str, ...] | None:
    r"""``--stop`` values with backslash escapes read (``\n`` is a newline), or ``None`` if none given.

    Raises:
        InputError: If a value is empty or has a malformed escape.
    """
    if not values:
        return None
    decoded = []
    for value in values:
        try:
            text = value.encode("latin-1", "backslashreplace").decode("unicode_escape")
        except UnicodeDecodeError as error:
            raise InputError(f"--stop {value!r}: not a valid escape sequence ({error.reason}).") from None
        if not text:
            raise InputError("--stop is empty; give the string an answer ends at, e.g. --stop '\\n'.")
        decoded.append(text)
    return tuple(dict.fromkeys(decoded))


def comma_list(value: str) -> list[str]:
    """The non-empty, stripped parts of a comma-separated option value."""
    return [part.strip() for part in value.split(",") if part.strip()]
