"""Build a knowledge world on disk: pretrained model, MC tasks with ground truth, and a manifest.

Layout of the output directory::

    model/                        the pretrained GPT-2 and its tokenizer (safetensors), loadable by
                                  transformers.AutoModelForCausalLM and `llmcal eval --model`
    tasks/{train,calibration,test}.jsonl
                                  MC items in the llmcal schema plus ground truth: ``entity``,
                                  ``known_entity`` (its facts were in pretraining), ``popularity`` and
                                  ``model_knows`` (the pretrained model completes the fact correctly)
    world.json                    config, entities, pretraining history and recall

Items show the four options before the fact prompt (``Q : A ) doctor B ) ... ; the job of Kalo is``) and
are scored as completions (cloze style ``completion``). ``model_knows`` comes from the fact prompt alone:
probing with the options visible is unreliable in tiny models.
"""

from __future__ import annotations

import random
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from llmcal.atomic import write_text_atomic
from llmcal.errors import InputError
from llmcal.jsonl import json_lines, json_round_trip, json_text, read_json_file, read_jsonl
from llmcal.scoring.requests import ScoringRequest
from llmcal.tasks.spec import ClozeStyle
from llmcal.world.generator import SPLITS, World, WorldConfig, generate_world
from llmcal.world.pretraining import PassReport, fact_recall, pretrain, ranks_target_first
from llmcal.world.text import build_tokenizer, fact_prompt, options_context

__all__ = ["BuiltWorld", "build_world", "load_built_world", "read_task_file"]

# World items are rendered as direct completions of the fact prompt (see the module docstring).
CLOZE_STYLE: ClozeStyle = "completion"


@dataclass(frozen=True)
class BuiltWorld:
    """A world on disk.

    Attributes:
        root: The directory.
        summary: The ``world.json`` summary (config digest, recall, item counts, pretraining passes).
    """

    root: Path
    summary: dict[str, Any]

    @property
    def model_dir(self) -> Path:
        """The pretrained model directory."""
        return self.root / "model"

    def task_file(self, split: str) -> Path:
        """The items of ``split`` (train, calibration or test)."""
        return self.root / "tasks" / f"{split}.jsonl"


def _items(world: World, rng: random.Random) -> dict[str, list[dict[str, Any]]]:
    """Four-option items, one per (entity, attribute), grouped by split (options drawn from ``rng``)."""
    by_split: dict[str, list[dict[str, Any]]] = {split: [] for split in SPLITS}
    for entity in world.entities:
        for attribute, (name, values) in enumerate(world.attributes):
            gold = entity.values[attribute]
            options = [gold, *rng.sample([v for v in range(len(values)) if v != gold], 3)]
            rng.shuffle(options)
            choices = [values[v] for v in options]
            by_split[entity.split].append(
                {
                    "id": f"{entity.name}.{name}",
                    "question": fact_prompt(world, entity, attribute),
                    "context": options_context(choices),
                    "choices": choices,
                    "answer": options.index(gold),
                    "subject": name,
                    "entity": entity.name,
                    "known_entity": entity.known,
                    "popularity": entity.popularity,
                }
            )
    return by_split


def _probe(model: Any, tokenizer: Any, items: list[dict[str, Any]]) -> list[bool]:
    """Whether the pretrained model ranks the gold option first from the fact prompt alone."""
    requests = [ScoringRequest(item["question"], tuple(f" {c}" for c in item["choices"])) for item in items]
    return ranks_target_first(model, tokenizer, requests, [item["answer"] for item in items])


def build_world(
    config: WorldConfig, out_dir: str | Path, *, on_pass: Callable[[PassReport], None] | None = None
) -> BuiltWorld:
    """Generates the world, pretrains its model, exports tasks and writes everything to ``out_dir``.

    The directory is assembled next to ``out_dir`` and moved into place at the end, so an interrupted
    build never leaves a world that looks complete.

    Raises:
        InputError: If ``out_dir`` exists and is not a built world.
    """
    target = Path(out_dir)
    if target.exists() and not (target / "world.json").exists():
        raise InputError(
            f"{target} exists and is not a knowledge world; choose another `out_dir`.", parameter="out_dir"
        )
    world = generate_world(config)
    tokenizer = build_tokenizer(world)
    model, history = pretrain(world, tokenizer, config.pretrain, seed=config.seed, on_pass=on_pass)
    by_split = _items(world, random.Random(config.seed + 2))
    for items in by_split.values():
        for item, knows in zip(items, _probe(model, tokenizer, items), strict=True):
            item["model_knows"] = knows

    facts = [(e, a) for e in world.entities for a in range(len(world.attributes))]
    summary = {
        "config": asdict(config),
        "digest": config.digest(),
        "n_entities": len(world.entities),
        "n_known_entities": sum(e.known for e in world.entities),
        "recall_known": fact_recall(model, tokenizer, world, [f for f in facts if f[0].known]),
        "recall_unknown": fact_recall(model, tokenizer, world, [f for f in facts if not f[0].known]),
        "recall_chance": 1 / len(world.attributes[0][1]),
        "items": {split: len(items) for split, items in by_split.items()},
        "model_knows_rate": {
            split: float(np.mean([item["model_knows"] for item in items]))
            for split, items in by_split.items()
        },
        "pretraining": [asdict(report) for report in history],
        "cloze_style": CLOZE_STYLE,
    }
    summary = json_round_trip(summary)  # exactly what load_built_world will read back
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        model.save_pretrained(staging / "model", safe_serialization=True)
        tokenizer.save_pretrained(staging / "model")
        (staging / "tasks").mkdir()
        for split, items in by_split.items():
            write_text_atomic(staging / "tasks" / f"{split}.jsonl", json_lines(items))
        world_record = {"summary": summary, "world": world.to_dict()}
        write_text_atomic(staging / "world.json", json_text(world_record, indent=1) + "\n")
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return BuiltWorld(target, summary)


def load_built_world(root: str | Path) -> BuiltWorld:
    """Opens a world written by :func:`build_world`.

    Raises:
        InputError: If ``root`` is not a complete world.
    """
    path = Path(root)
    try:
        record = read_json_file(path / "world.json")
    except InputError:
        raise InputError(f"{path} is not a knowledge world (no readable world.json).") from None
    if not (path / "model" / "config.json").exists():
        raise InputError(f"{path}: the world's model directory is missing.")
    return BuiltWorld(path, record["summary"])


def read_task_file(path: str | Path) -> list[dict[str, Any]]:
    """The items of a world task file (:meth:`BuiltWorld.task_file`) as written, ground truth included.

    Raises:
        InputError: Naming ``file:line``, for a line that is not JSON.
    """
    return [record for _, record in read_jsonl(path)]
