"""Command-line options built from plug-in declarations: settings dataclasses and registries.

A plug-in's hyperparameters are declared once, as a dataclass whose fields carry their default and help
(:func:`llmcal.finetune.hyperparameters.hyperparameter`). :func:`settings_options` turns those fields into
typer options, :func:`settings_from_options` turns the values given back into the dataclasses, and
:func:`registry_help` lists a registry's names with their summaries: a new plug-in needs no CLI code.

typer reads a command's options from ``inspect.signature(function, eval_str=True)`` and
``typing.get_type_hints(function)``. :func:`with_options` gives the command function a synthesized
``__signature__`` and ``__annotations__`` that hold the built options, and typer passes their values to
the function's ``**kwargs``.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import MISSING, Field, fields
from typing import Annotated, Any, TypeVar

import typer

from llmcal.finetune.hyperparameters import OptionDescription, option_description

__all__ = ["registry_help", "settings_from_options", "settings_options", "with_options"]

CommandT = TypeVar("CommandT", bound=Callable[..., Any])


def settings_options(settings_types: Iterable[type]) -> list[inspect.Parameter]:
    """One keyword-only typer option per command-line field of ``settings_types``, in their order.

    A field several types share (the CogCalib ``alpha``) becomes one option, which sets all of them.

    Raises:
        TypeError: If two types declare a shared field differently (type, default or description): one
            option could not stand for both. This is a plug-in's bug, found when the command is built.
    """
    options: dict[str, inspect.Parameter] = {}
    declarations: dict[str, tuple[type, Any, Any, OptionDescription]] = {}
    for settings_type in settings_types:
        hints = typing.get_type_hints(settings_type)
        for setting in fields(settings_type):
            description = option_description(setting)
            if not description.on_command_line:
                continue
            declaration = (settings_type, hints[setting.name], setting.default, description)
            first = declarations.setdefault(setting.name, declaration)
            if first[1:] != declaration[1:]:
                raise TypeError(
                    f"{settings_type.__name__}.{setting.name} is declared unlike "
                    f"{first[0].__name__}.{setting.name}; one option sets both, so declare them alike."
                )
            if setting.name not in options:
                options[setting.name] = _option(setting, hints[setting.name], description)
    return list(options.values())


def settings_from_options(settings_types: Iterable[type], values: Mapping[str, Any]) -> tuple[object, ...]:
    """Each of ``settings_types`` built from the ``values`` (field name -> value) of its fields.

    A field without a value keeps its default.

    Raises:
        InputError: If a dataclass refuses a value (its own checks).
    """
    return tuple(
        settings_type(**{setting.name: values[setting.name] for setting in fields(settings_type)
                         if setting.name in values})
        for settings_type in settings_types
    )  # fmt: skip


def registry_help(summaries: Iterable[tuple[str, str]]) -> str:
    """A ``--method`` help: each registered name with its summary.

    Examples:
        >>> registry_help([("dpo", "sigmoid loss"), ("ipo", "")])
        'dpo: sigmoid loss; ipo.'
    """
    return "; ".join(f"{name}: {summary}" if summary else name for name, summary in summaries) + "."


def with_options(options: Sequence[inspect.Parameter], *, after: str) -> Callable[[CommandT], CommandT]:
    """Decorator: the command's options are its parameters with ``options`` inserted after ``after``.

    The command takes ``**kwargs``, where typer passes the inserted options' values by name.

    Raises:
        TypeError: If the command has no ``**kwargs`` or no parameter ``after``, or an option's name is
            one of its parameters.
    """

    def decorate(command: CommandT) -> CommandT:
        signature = inspect.signature(command, eval_str=True)
        own = [
            parameter
            for parameter in signature.parameters.values()
            if parameter.kind is not parameter.VAR_KEYWORD
        ]
        names = [parameter.name for parameter in own]
        if len(own) == len(signature.parameters) or after not in names:
            raise TypeError(f"{command.__name__} needs **kwargs and a parameter {after!r} to take options")
        clashes = sorted({option.name for option in options} & set(names))
        if clashes:
            raise TypeError(f"{command.__name__} already has parameters {clashes}")
        # Keyword-only throughout: typer passes every value by name, and keyword-only parameters may
        # follow the inserted ones in any order of defaults.
        parameters = [parameter.replace(kind=parameter.KEYWORD_ONLY) for parameter in own]
        at = names.index(after) + 1
        parameters[at:at] = options
        command.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
        command.__annotations__ = {parameter.name: parameter.annotation for parameter in parameters}
        command.__annotations__["return"] = signature.return_annotation
        return command

    return decorate


def _option(setting: Field[Any], annotation: Any, description: OptionDescription) -> inspect.Parameter:
    if setting.default is MISSING:
        raise TypeError(f"field {setting.name!r} has no default; a command-line option needs one")
    flags = () if description.flag is None else (description.flag,)
    option = typer.Option(*flags, help=description.help, min=description.min, max=description.max)
    return inspect.Parameter(
        setting.name,
        inspect.Parameter.KEYWORD_ONLY,
        default=setting.default,
        annotation=Annotated[annotation, option],
    )
