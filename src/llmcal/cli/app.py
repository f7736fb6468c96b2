"""The ``llmcal`` entry point: builds the typer app; input and OS errors become one line and exit code 2."""

from __future__ import annotations

import errno
import sys
import traceback
from pathlib import Path

import typer
import typer.main
from rich.console import Console
from rich.markup import escape

from llmcal import __version__
from llmcal.cli import (
    align_command,
    calibrate_command,
    compare_command,
    demo_command,
    eval_command,
    finetune_command,
    from_lm_eval_command,
    metrics_command,
    models_command,
    probe_command,
    report_command,
    serve_local_command,
    study_command,
    tasks_command,
    world_command,
)
from llmcal.cli.option_mentions import cli_message
from llmcal.cli.out_paths import empty_out_error, empty_out_option
from llmcal.errors import InputError, ServerError

__all__ = ["app", "main"]

EXIT_BAD_INPUT = 2

app = typer.Typer(
    name="llmcal",
    help="Measure, explain and fix the calibration of large language models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain click help: in 80 columns it gives each option's help the width left of the longest option
    # name, where rich's boxed panels squeezed it into a column of 15 characters.
    rich_markup_mode=None,
)
app.command("metrics", no_args_is_help=True)(metrics_command.metrics)
app.command("eval", no_args_is_help=True)(eval_command.eval_)
app.command("tasks")(tasks_command.tasks)
app.command("models")(models_command.models)
app.command("demo")(demo_command.demo)
app.command("probe", no_args_is_help=True)(probe_command.probe)
app.command("finetune", no_args_is_help=True)(finetune_command.finetune_command)
app.command("align", no_args_is_help=True)(align_command.align_command)
app.command("compare", no_args_is_help=True)(compare_command.compare)
app.command("calibrate", no_args_is_help=True)(calibrate_command.calibrate)
app.command("from-lm-eval", no_args_is_help=True)(from_lm_eval_command.from_lm_eval)
app.command("report", no_args_is_help=True)(report_command.report)
app.command("serve-local", no_args_is_help=True)(serve_local_command.serve_local)
app.command("study")(study_command.study)
app.add_typer(world_command.app, name="world")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"llmcal {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show version."),
) -> None:
    """Measure, explain and fix the calibration of large language models."""


def main(argv: list[str] | None = None) -> int:
    """Runs the CLI; returns the exit code (2 for bad input, with the reason on stderr).

    Input errors (the parameters they name shown as this command's options), every :class:`OSError` (a
    path that cannot be read or written, a full disk) and a model server out of reach
    (:class:`~llmcal.errors.ServerError`) end in one line on stderr and exit code 2; any other exception is
    a bug and propagates with its traceback.
    """
    args = sys.argv[1:] if argv is None else argv
    try:
        empty = empty_out_option(args)
        if empty is not None:
            raise empty_out_error(empty)
        # Standalone mode lets typer report usage errors itself (exit code 2) and ends in SystemExit.
        app(args=argv, prog_name="llmcal")
    except InputError as error:
        # The library names parameters; here they are the options of the command that was run.
        _print_error(cli_message(error, typer.main.get_command(app), args))
        return EXIT_BAD_INPUT
    except OSError as error:
        _print_error(os_error_message(error))
        return EXIT_BAD_INPUT
    except ServerError as error:
        # A model server out of reach after every retry: what was finished is kept; a rerun resumes.
        _print_error(str(error))
        return EXIT_BAD_INPUT
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    return 0


def _print_error(message: str) -> None:
    # Escaped: a path with [brackets] in a message is text, not console markup.
    Console(stderr=True).print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)


_ADVICE = {
    errno.EACCES: "choose a path you have permission to use, or change its permissions",
    errno.EPERM: "choose a path you have permission to use, or change its permissions",
    errno.EROFS: "the file system is read-only; choose a writable location",
    errno.ENOENT: "check the path",
    errno.EISDIR: "give a file, not a directory",
    errno.ENOTDIR: "a part of the path is a file; give a path whose parent folders are directories",
    errno.EEXIST: "remove what is there or choose another path",
    errno.ENAMETOOLONG: "give a shorter path",
    errno.ENOSPC: "free some space (or write elsewhere) and run again",
    errno.EDQUOT: "free some space (or write elsewhere) and run again",
    errno.EIO: "the disk or file system failed; check it and run again",
    errno.EMFILE: "too many open files; raise the limit (ulimit -n) and run again",
    errno.ENFILE: "too many open files; raise the limit (ulimit -n) and run again",
}
_FULL = (errno.ENOSPC, errno.EDQUOT)
_ENVIRONMENT = (*_FULL, errno.EIO)


def os_error_message(error: OSError) -> str:
    """One line for an :class:`OSError`: the path, what happened (``strerror``) and what to do.

    A write that failed inside :mod:`llmcal.atomic` is named by its target, not its temporary file, and the
    line says no partial file was left (the temporary file is removed); elsewhere it claims nothing.
    """
    target = _atomic_target(error)
    path = target if target is not None else _path_of(error)
    what = " ".join((error.strerror or str(error) or type(error).__name__).split())
    line = f"{path}: {what}" if path else what
    advice = _ADVICE.get(error.errno) if error.errno is not None else None
    if target is not None and error.errno in _ENVIRONMENT:
        line += "; it was not written (results are written atomically, so no partial file was left)"
    elif error.errno in _FULL:
        line += "; output written before this may be incomplete"
    return f"{line}; {advice or 'check the path and run again'}."


def _path_of(error: OSError) -> str:
    names = [_shown(name) for name in (error.filename, error.filename2) if name is not None]
    return " -> ".join(names)


def _shown(name: object) -> str:
    text = repr(name) if isinstance(name, bytes | int) else str(name)
    return text if text.isprintable() else repr(text)


_ATOMIC_WRITERS = ("write_bytes_atomic", "write_directory_atomic")


def _atomic_target(error: OSError) -> str | None:
    """The file or folder an :mod:`llmcal.atomic` writer was writing when ``error`` was raised, if one was.

    The outermost writer's: a model folder rather than a file inside it. Both writers remove what they had
    written when an exception passes through them.
    """
    for frame, _ in traceback.walk_tb(error.__traceback__):
        if frame.f_globals.get("__name__") == "llmcal.atomic" and frame.f_code.co_name in _ATOMIC_WRITERS:
            target = frame.f_locals.get("target")
            return _shown(target) if isinstance(target, Path) else None
    return None


if __name__ == "__main__":
    sys.exit(main())
