"""Options built from settings dataclasses and registries; the commands build them without torch."""

from __future__ import annotations

import inspect
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Annotated, Any

import pytest
import typer
from typer.testing import CliRunner

from llmcal.cli.plugin_options import registry_help, settings_from_options, settings_options, with_options
from llmcal.finetune.hyperparameters import hyperparameter


@dataclass(frozen=True)
class Smoothing:
    eps: float = hyperparameter(0.1, help="Smoothing.", flag="--epsilon", min=0.0, max=1.0)
    shared: int = hyperparameter(3, help="Shared count.")


@dataclass(frozen=True)
class Other:
    shared: int = hyperparameter(3, help="Shared count.")
    hidden: bool = hyperparameter(False, help="Set another way.", on_command_line=False)
    plain: str = "x"  # no description: an option without help


@dataclass(frozen=True)
class Clashing:
    shared: int = hyperparameter(4, help="Shared count.")


def _command(options):
    @with_options(options, after="name")
    def command(name: Annotated[str, typer.Option()] = "n", last: int = 0, **settings: Any) -> None:
        typer.echo(repr((name, last, settings_from_options([Smoothing, Other], settings))))

    app = typer.Typer(rich_markup_mode=None)
    app.command()(command)
    app.command("other")(lambda: None)  # two commands, so typer keeps the command's name
    return app, command


def test_each_field_is_one_option_and_a_shared_field_is_one_option_for_all():
    options = settings_options([Smoothing, Other])
    assert [option.name for option in options] == ["eps", "shared", "plain"]  # `hidden` is not an option
    assert [option.default for option in options] == [0.1, 3, "x"]
    assert all(option.kind is inspect.Parameter.KEYWORD_ONLY for option in options)


def test_two_declarations_of_a_shared_field_must_agree():
    with pytest.raises(TypeError, match=r"Clashing.shared is declared unlike Smoothing.shared"):
        settings_options([Smoothing, Clashing])


def test_the_built_options_parse_into_the_settings_with_their_flags_bounds_and_defaults():
    app, command = _command(settings_options([Smoothing, Other]))
    assert list(inspect.signature(command).parameters) == ["name", "eps", "shared", "plain", "last"]
    runner = CliRunner()
    given = runner.invoke(app, ["command", "--epsilon", "0.5", "--shared", "7", "--last", "1"])
    assert given.exit_code == 0, given.output
    assert given.output.strip() == repr(("n", 1, (Smoothing(0.5, 7), Other(7, False, "x"))))
    defaults = runner.invoke(app, ["command"])
    assert defaults.output.strip() == repr(("n", 0, (Smoothing(), Other())))
    out_of_bounds = runner.invoke(app, ["command", "--epsilon", "2"])
    assert out_of_bounds.exit_code == 2
    help_text = " ".join(runner.invoke(app, ["command", "--help"]).output.split())
    assert "--epsilon <float range> Smoothing. [default: 0.1; 0.0<=x<=1.0]" in help_text
    assert "--hidden" not in help_text


def test_with_options_refuses_a_command_it_cannot_extend():
    def no_kwargs(name: str = "n") -> None: ...

    def clash(name: str = "n", eps: float = 0.0, **settings: Any) -> None: ...

    with pytest.raises(TypeError, match="needs \\*\\*kwargs"):
        with_options([], after="name")(no_kwargs)
    with pytest.raises(TypeError, match="already has parameters \\['eps'\\]"):
        with_options(settings_options([Smoothing]), after="name")(clash)


def test_a_field_without_a_default_cannot_be_an_option():
    @dataclass(frozen=True)
    class Required:
        value: float = field()

    with pytest.raises(TypeError, match="'value' has no default"):
        settings_options([Required])


def test_the_method_help_lists_each_name_with_its_summary():
    assert registry_help([("sft", "cross-entropy"), ("new", "")]) == "sft: cross-entropy; new."


def test_the_finetune_command_s_options_are_the_registered_losses_hyperparameters():
    from llmcal.cli.finetune_command import METHOD_HELP, finetune_command
    from llmcal.finetune.loss_registry import LOSSES
    from llmcal.finetune.loss_settings import LabelSmoothingConfig, MarginCogCalibConfig, RcftConfig

    parameters = inspect.signature(finetune_command).parameters
    names = list(parameters)
    assert names[names.index("format") + 1 : names.index("style_adaptation")] == [
        "smoothing", "alpha", "margin", "rcft_alpha", "rcft_scale"
    ]  # fmt: skip
    defaults = {name: parameters[name].default for name in ("smoothing", "alpha", "margin", "rcft_scale")}
    margin = MarginCogCalibConfig()
    assert defaults == {"smoothing": LabelSmoothingConfig().smoothing, "alpha": margin.alpha,
                        "margin": margin.margin, "rcft_scale": RcftConfig().rcft_scale}  # fmt: skip
    for name in LOSSES:
        assert f"{name}: {LOSSES.get(name).summary}" in METHOD_HELP


def test_building_the_training_commands_imports_no_torch():
    code = (
        "import contextlib, io, sys\n"
        "from llmcal.cli.app import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    assert main(['finetune', '--help']) == 0 and main(['align', '--help']) == 0\n"
        "heavy = ('torch', 'transformers', 'peft', 'trl', 'datasets', 'matplotlib')\n"
        "print(','.join(name for name in heavy if name in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""
