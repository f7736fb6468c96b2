"""Which slice of the work this process does when several run at once (torchrun, accelerate launch).

Launchers tell each process its place through the environment (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``);
:func:`process_shard` reads it, joins a gloo process group and returns a
:class:`Shard` whose barrier is ``torch.distributed.barrier``. Run alone, it returns
the single-process shard and touches nothing.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from llmcal.errors import InputError

__all__ = ["SINGLE_PROCESS", "Shard", "device_for_shard", "process_rank", "process_shard"]


@dataclass(frozen=True)
class Shard:
    """This process's place in a data-parallel run: it scores every ``world_size``-th pending item.

    Attributes:
        rank: This process's index, 0 to ``world_size - 1``; rank 0 writes the results.
        world_size: Number of processes.
        barrier: Blocks until every process has called it (``torch.distributed.barrier`` under a launcher).
    """

    rank: int = 0
    world_size: int = 1
    barrier: Callable[[], object] = lambda: None

    @property
    def is_main(self) -> bool:
        """Whether this process writes the shared files."""
        return self.rank == 0


SINGLE_PROCESS = Shard()


def process_rank() -> tuple[int, int]:
    """``(rank, world_size)`` from the launcher's environment; ``(0, 1)`` when run alone.

    Raises:
        InputError: If ``RANK``/``WORLD_SIZE`` are set but not integers or inconsistent.
    """
    try:
        world_size = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
    except ValueError:
        raise InputError(
            "RANK and WORLD_SIZE must be integers when set (they come from the launcher)."
        ) from None
    if world_size > 1 and not 0 <= rank < world_size:
        raise InputError(f"RANK={rank} is outside 0..WORLD_SIZE-1={world_size - 1}.")
    return rank, world_size


def process_shard() -> Shard:
    """This process's shard, joining the default process group if a launcher started several.

    Raises:
        InputError: If ``RANK``/``WORLD_SIZE`` are set but not integers or inconsistent.
    """
    rank, world_size = process_rank()
    if world_size <= 1:
        return SINGLE_PROCESS
    import torch.distributed as dist

    if not dist.is_initialized():
        # Evaluation only needs barriers, never tensors: gloo works beside GPUs, and a long timeout lets the
        # other processes wait while the main one bootstraps every metric. If a process fails, the
        # launcher (torchrun, accelerate) stops the others.
        dist.init_process_group(backend="gloo", timeout=timedelta(hours=12))
    return Shard(rank=rank, world_size=world_size, barrier=dist.barrier)


def device_for_shard(device: str, shard: Shard) -> str:
    """``cuda:LOCAL_RANK`` for ``auto``/``cuda`` in a multi-process run on GPUs, else ``device`` unchanged.

    Raises:
        InputError: If ``LOCAL_RANK`` is not a non-negative integer, or names a GPU this machine lacks.
    """
    if shard.world_size <= 1 or device not in ("auto", "cuda"):
        return device
    import torch

    if not torch.cuda.is_available():
        return "cpu" if device == "auto" else device  # `cuda` is refused, with why, where it is resolved
    local_rank = os.environ.get("LOCAL_RANK", "0")
    if not (local_rank.isascii() and local_rank.isdecimal()):
        raise InputError(
            f"LOCAL_RANK must be a non-negative integer (the launcher sets it); got {local_rank!r}."
        )
    count = torch.cuda.device_count()
    if int(local_rank) >= count:
        raise InputError(
            f"LOCAL_RANK={local_rank}, but this machine has {count} CUDA device{'s' if count != 1 else ''}; "
            "start at most that many processes per machine (e.g. torchrun --nproc_per_node)."
        )
    return f"cuda:{int(local_rank)}"
