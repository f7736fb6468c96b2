"""A library error in the words of the command line: each parameter it names becomes the option that sets it.

Library messages name parameters as Python callers spell them, in backticks ("`dtype` must be one of ...",
see :mod:`llmcal.errors`). On the command line the same error reads "--dtype must be one of ...": each
mention is looked up among the parameters of the command being run (click's ``Parameter.name`` is the
Python name, ``.opts`` its flags), then among those of every other command (advice such as "evaluate
both runs with one `methods`" names an option of ``llmcal eval`` while ``llmcal compare`` runs), each time
under its own name first and then under the aliases in :data:`PARAMETER_ALIASES`. A mention no command
has is left as it is.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Protocol

from typer.core import TyperGroup

from llmcal.errors import InputError

__all__ = ["PARAMETER_ALIASES", "cli_message", "invoked_command", "option_for"]

PARAMETER_ALIASES: dict[str, tuple[str, ...]] = {
    "names": ("task",),  # select_tasks(names=...): the built-in tasks of `llmcal eval --task`
    "path": ("dataset_path",),  # load_task(spec, path=...): a task's dataset, `--dataset-path`
    "loss": ("method",),  # FinetuneSettings.loss and AlignmentSettings.loss: `--method`
    "calibration_items": ("calibration_data",),  # finetune(calibration_items=...): `--calibration-data`
    "out_dir": ("out",),  # build_world(out_dir=...), finetune(out_dir=...): `--out`
    "timeout_s": ("timeout",),  # ClientSettings.timeout_s: `--timeout`
    "prompts_per_request": ("batch_size",),  # ServerBackend(prompts_per_request=...): `--batch-size`
}
"""Library parameter name -> the names of the command parameters that set it, where they differ."""

_MENTION = re.compile(r"`([A-Za-z_][A-Za-z0-9_]*)(?:=([^`]*))?`")
"""A mention: `name` (a parameter) or `name=VALUE` (a parameter given a value)."""


class CommandParameter(Protocol):
    """What is read of a click parameter (typer ships its own copy of click, so no click class is named)."""

    @property
    def name(self) -> str | None:
        """The Python name: the command function's argument."""

    @property
    def opts(self) -> list[str]:
        """The flags (``["--dtype"]``), or an argument's name."""

    @property
    def param_type_name(self) -> str:
        """``"option"`` or ``"argument"``."""


class Command(Protocol):
    """What is read of a click command: its name and parameters."""

    @property
    def name(self) -> str | None:
        """The command's name (``eval``; ``None`` for an unnamed root)."""

    @property
    def params(self) -> Sequence[CommandParameter]:
        """Its options and arguments."""


def cli_message(error: InputError, root: Command, args: Sequence[str]) -> str:
    """``error``'s message as the command line shows it: `name` becomes "--flag", `name=V` "--flag V".

    Only errors about a parameter (:attr:`InputError.parameter` set) are rewritten: other messages may
    quote code in backticks that is not a parameter.

    Args:
        error: The error the library raised.
        root: The ``llmcal`` click group.
        args: The command line's arguments (without the program name), naming the command being run.
    """
    message = str(error)
    if error.parameter is None:
        return message
    commands = [invoked_command(root, args), *_leaf_commands(root)]

    def as_option(mention: re.Match[str]) -> str:
        option = option_for(mention[1], commands)
        if option is None:
            return mention[0]
        return f"{option} {mention[2]}" if mention[2] else option

    return _MENTION.sub(as_option, message)


def invoked_command(root: Command, args: Sequence[str]) -> Command:
    """The (sub)command ``args`` run: ``["world", "build", "--out", "w"]`` -> ``world build``.

    Subcommand names are the first words that are not options; the walk stops at the first word that
    names no subcommand of the group it is in (the root itself when there is none).
    """
    command = root
    for word in args:
        if not isinstance(command, TyperGroup):
            break
        if word.startswith("-"):
            continue
        subcommand = command.commands.get(word)
        if subcommand is None:
            break
        command = subcommand
    return command


def option_for(name: str, commands: Sequence[Command]) -> str | None:
    """The flag (or an argument's upper-case name) setting library parameter ``name``, or ``None``.

    ``commands`` are searched in order; in each, the parameter's own name is tried before its aliases.
    """
    candidates = (name, *PARAMETER_ALIASES.get(name, ()))
    for command in commands:
        for candidate in candidates:
            for parameter in command.params:
                if parameter.name == candidate:
                    return _spelling(parameter)
    return None


def _spelling(parameter: CommandParameter) -> str:
    if parameter.param_type_name == "option":
        return next((opt for opt in parameter.opts if opt.startswith("--")), parameter.opts[0])
    return (parameter.name or "").upper()  # an argument, as usage lines show it


def _leaf_commands(command: Command) -> Iterator[Command]:
    if isinstance(command, TyperGroup):
        for subcommand in command.commands.values():
            yield from _leaf_commands(subcommand)
    else:
        yield command
