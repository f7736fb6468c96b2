"""How a field of a plug-in's settings dataclass describes itself as a command-line option.

A plug-in's hyperparameters (a loss's config dataclass) are declared once, with their defaults. Each field
declared with :func:`hyperparameter` carries its help text, its flag where that differs from the field's
name, and the bounds the command line enforces, in the field's metadata; ``llmcal.cli.plugin_options``
builds the options from them, so a new plug-in brings its options with it. Nothing in the library reads
the metadata but the command line; the dataclass's own ``__post_init__`` checks stay the validation every
Python caller gets.

Examples:
    >>> from dataclasses import dataclass, fields
    >>> @dataclass(frozen=True)
    ... class FocalConfig:
    ...     gamma: float = hyperparameter(2.0, help="Focal exponent.", min=0.0)
    >>> option_description(fields(FocalConfig)[0]).help
    'Focal exponent.'
"""

from __future__ import annotations

from dataclasses import Field, dataclass, field
from typing import Any, TypeVar

__all__ = ["OptionDescription", "hyperparameter", "option_description"]

T = TypeVar("T")

_METADATA_KEY = "llmcal.option"


@dataclass(frozen=True)
class OptionDescription:
    """What the command line shows and enforces for one settings field.

    Attributes:
        help: The option's help text, or ``None`` for none.
        flag: The option's flag (``"--eps"``) where it differs from the field's name with dashes; ``None``
            derives it (``rcft_alpha`` -> ``--rcft-alpha``).
        min: The smallest value the command line accepts (the help shows it), or ``None``.
        max: The largest value the command line accepts, or ``None``.
        on_command_line: Whether the field is an option at all: ``False`` for a field the command line sets
            some other way (its declaration says how).
    """

    help: str | None = None
    flag: str | None = None
    min: float | None = None
    max: float | None = None
    on_command_line: bool = True


def hyperparameter(
    default: T,
    *,
    help: str,
    flag: str | None = None,
    min: float | None = None,
    max: float | None = None,
    on_command_line: bool = True,
) -> T:
    """A dataclass field with ``default`` and the :class:`OptionDescription` of the other arguments.

    Use it as the field's default: ``smoothing: float = hyperparameter(0.1, help="...")``.
    """
    description = OptionDescription(help, flag, min, max, on_command_line)
    return field(default=default, metadata={_METADATA_KEY: description})


def option_description(setting: Field[Any]) -> OptionDescription:
    """The :class:`OptionDescription` of a dataclass field; a plain field gets an option without help."""
    description = setting.metadata.get(_METADATA_KEY, OptionDescription())
    if not isinstance(description, OptionDescription):
        raise TypeError(f"field {setting.name!r}: metadata {_METADATA_KEY!r} is not an OptionDescription")
    return description
