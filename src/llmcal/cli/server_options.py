"""The options of commands that can run a model on OpenAI-compatible servers instead of in-process.

``--server URL`` (repeatable: replicas) switches the command to :class:`~llmcal.scoring.server.ServerBackend`;
``--model`` is then the served model's name. Options that only mean something in-process (``--device``,
``--dtype``, ``--strategy``, ``--revision``, ``--trust-remote-code``) are refused beside ``--server``: the
server was started with its own, and a silently ignored option is a wrong run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Annotated, Any

import typer

from llmcal.errors import InputError

if TYPE_CHECKING:
    from llmcal.scoring.server import ServerBackend

__all__ = [
    "Concurrency",
    "Servers",
    "Timeout",
    "Tokenizer",
    "check_backend_options",
    "server_backend",
]

Servers = Annotated[
    list[str] | None,
    typer.Option(
        "--server",
        metavar="URL",
        help="Score and generate through this OpenAI-compatible server (vLLM), http://host:port; repeat "
        "it for replicas sharing the work. --model is then the served name (docs/scale.md).",
    ),
]
Tokenizer = Annotated[
    str | None,
    typer.Option(
        help="With --server: the served model's tokenizer (folder, hub id or packaged name). Default: the "
        "folder the server reports, if it is on this machine, else --model."
    ),
]
Concurrency = Annotated[
    int, typer.Option(min=1, max=1024, help="With --server: requests in flight at once, over all servers.")
]
Timeout = Annotated[
    float, typer.Option(min=1.0, help="With --server: seconds one request may take before it is retried.")
]


def check_backend_options(
    servers: list[str] | None, tokenizer: str | None, given: Mapping[str, Any], defaults: Mapping[str, Any]
) -> None:
    """Refuses options of the other backend: in-process ones beside ``--server``, ``--tokenizer`` without it.

    Args:
        servers: ``--server``'s URLs, if given.
        tokenizer: ``--tokenizer``, if given.
        given: Each in-process option's value, by its Python name.
        defaults: Their defaults.

    Raises:
        InputError: Naming the first such option.
    """
    if not servers:
        if tokenizer is not None:
            raise InputError(
                "`tokenizer` goes with `servers`; in-process, the model's own is used.", parameter="tokenizer"
            )
        return
    for name, value in given.items():
        if value != defaults[name]:
            raise InputError(
                f"`{name}` applies to the in-process backend; with `servers` the server runs the model as "
                "it was started (its own --dtype, --device, --revision). Leave it out.",
                parameter=name,
            )


def server_backend(
    model: str,
    servers: list[str],
    *,
    tokenizer: str | None,
    batch_size: int | None,
    concurrency: int,
    timeout: float,
    on_status: Callable[[str], None],
) -> ServerBackend:
    """The backend on ``servers``, with prompts per request from ``--batch-size`` (16 for ``auto``)."""
    from llmcal.scoring.server import ServerBackend
    from llmcal.scoring.server_client import ClientSettings

    return ServerBackend(
        model,
        servers,
        tokenizer=tokenizer,
        prompts_per_request=batch_size or 16,
        client=ClientSettings(timeout_s=timeout, concurrency=concurrency),
        on_status=on_status,
    )
