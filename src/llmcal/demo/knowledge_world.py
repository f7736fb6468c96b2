"""The end-to-end story on the built-in knowledge world, small enough for a laptop CPU.

1. Build (or reuse from the cache) a synthetic world and pretrain a tiny GPT-2 on the facts of its
   "known" people.
2. Evaluate the pretrained model on the held-out test people with every confidence method that applies
   (``sum``, ``mean``, ``min``: the option words are scored; tiny models never learn to answer with
   letters, so ``choice`` does not apply here).
3. Fit temperature scaling on the calibration split and apply it to the test split.
4. Align the pretrained model with DPO on preference pairs from the training people (gold option over a
   wrong one), evaluate it the same way, and compare it with the pretrained model: the change and change
   rate of every metric per method, with paired bootstrap intervals (``comparison/``).
5. Fine-tune a fresh copy of the pretrained model per :data:`VARIANTS` entry that starts from it, and of
   the aligned model per entry that starts from that (CFT and RCFT, which try to restore calibration).
6. Break every variant down by ground truth: people whose facts the model read (known) and the rest.
7. With a real model given, run the real-model part (:mod:`llmcal.demo.real_model`) too.
8. Write ``demo.json`` and ``report.html``, one self-contained page with all of the above.

What a run does (preset, seed, variants, schedules) is declared in :mod:`llmcal.demo.settings`.

Why it is long: it is the steps above, each a short function, in the order they run; the settings and the
results' format live elsewhere.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from llmcal.cache import cache_dir as llmcal_cache_dir
from llmcal.calibrators.temperature import TemperatureScaler
from llmcal.confidence.extraction import ExtractionSettings
from llmcal.confidence.methods import OptionProbabilities, option_scores, probabilities
from llmcal.confidence.records import ItemRecord
from llmcal.demo.real_model import run_real_model_story
from llmcal.demo.settings import SCHEDULES, VARIANTS, DemoSchedule, DemoSettings, Variant
from llmcal.errors import InputError
from llmcal.evaluation import evaluate
from llmcal.locking import OutputLock
from llmcal.metrics.comparison import MetricChange
from llmcal.metrics.settings import MetricSettings
from llmcal.metrics.summary import calibration_row
from llmcal.reports.reliability import save_reliability_pngs
from llmcal.runs.demo import DemoResults, DemoRow, write_demo
from llmcal.runs.eval_run import read_eval_run
from llmcal.runs.evaluation import EvalSettings
from llmcal.runs.training import TrainingResults
from llmcal.tasks.loading import load_items
from llmcal.tasks.schema import MCItem
from llmcal.tasks.selection import EvalTask
from llmcal.world.build import CLOZE_STYLE, BuiltWorld, build_world, load_built_world, read_task_file
from llmcal.world.presets import preset
from llmcal.world.pretraining import PassReport

__all__ = [
    "SCHEDULES",
    "VARIANTS",
    "DemoSchedule",
    "DemoSettings",
    "Variant",
    "run_demo",
    "world_for",
]

DEMO_METHODS = ("sum", "mean", "min")
COMPARED_METRICS = ("accuracy", "ece", "sce", "brier", "smooth_ece")


def world_for(
    preset_name: str,
    seed: int,
    cache_dir: Path,
    *,
    on_pass: Callable[[PassReport], None] | None = None,
) -> tuple[BuiltWorld, bool]:
    """The world of ``preset_name`` and ``seed``, built once and then reused (keyed by the config hash).

    Returns:
        The world and whether it came from the cache.
    """
    config = preset(preset_name, seed=seed)
    root = cache_dir / "worlds" / f"{preset_name}-{config.digest()}"
    if (root / "world.json").exists():
        return load_built_world(root), True
    return build_world(config, root, on_pass=on_pass), False


def _ground_truth(path: Path) -> dict[str, bool]:
    """``item id -> known_entity`` from a world task file."""
    return {record["id"]: bool(record["known_entity"]) for record in _task_records(path)}


def _known_unknown_rows(variant: str, table: OptionProbabilities, known: NDArray[np.bool_]) -> list[DemoRow]:
    """The variant's calibration on all test items, on the known ones and on the unknown ones.

    A group with no items is left out.
    """
    groups = (("all", np.ones_like(known)), ("known", known), ("unknown", ~known))
    return [
        DemoRow(variant, group, calibration_row(*table.subset(mask))) for group, mask in groups if mask.any()
    ]


def _task_records(path: Path) -> list[dict[str, Any]]:
    return read_task_file(path)


def _align(world: BuiltWorld, out: Path, *, seed: int, epochs: int) -> tuple[Path, TrainingResults]:
    """DPO on preference pairs from the training people; returns the aligned model's directory."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from llmcal.finetune.alignment import align, preference_pairs_from_items
    from llmcal.finetune.settings import AlignSettings

    tokenizer = AutoTokenizer.from_pretrained(world.model_dir)
    model = AutoModelForCausalLM.from_pretrained(world.model_dir, use_safetensors=True)
    pairs = preference_pairs_from_items(load_items(world.task_file("train")), style=CLOZE_STYLE, seed=seed)
    # A few DPO passes at a learning rate the tiny model moves at; TRL's other defaults.
    settings = AlignSettings(
        loss="dpo", beta=0.1, epochs=epochs, learning_rate=5e-4, batch_size=32, seed=seed
    )
    _, results = align(model, tokenizer, pairs, settings, out)
    return out / "model", results


def _finetune_rows(run: _DemoRun, aligned_dir: Path | None, variants: Sequence[Variant]) -> list[DemoRow]:
    """Fine-tunes a fresh copy of the pretrained model per variant and evaluates it on the test people."""
    if not variants:
        return []
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(run.world.model_dir)
    training = _TrainingSets.of(run.world)
    rows: list[DemoRow] = []
    for variant in variants:
        run.stage(f"fine-tuning: {variant.name}")
        start = aligned_dir if variant.start == "aligned" else run.world.model_dir
        if start is None:
            raise InputError(
                f"demo variant {variant.name!r} starts from the aligned model; run the alignment."
            )
        table = _finetune_and_evaluate(run, variant, start, tokenizer, training)
        rows.extend(_known_unknown_rows(variant.name, table, run.known))
    return rows


@dataclass(frozen=True)
class _TrainingSets:
    """What the variants train on, and whether the model knows each calibration person's facts.

    ``known`` and ``unknown`` are equal shares of the training people whose facts were, or were not, in
    pretraining.
    """

    all: list[MCItem]
    known: list[MCItem]
    unknown: list[MCItem]
    calibration_known: list[bool]

    @classmethod
    def of(cls, world: BuiltWorld) -> _TrainingSets:
        """The sets of ``world``'s training and calibration splits."""
        train_raw = _task_records(world.task_file("train"))
        train_items = load_items(world.task_file("train"))
        calibration_known = [bool(r["model_knows"]) for r in _task_records(world.task_file("calibration"))]
        pairs = list(zip(train_items, train_raw, strict=True))
        by_known = {
            flag: [item for item, raw in pairs if raw["known_entity"] == flag] for flag in (True, False)
        }
        equal = min(len(by_known[True]), len(by_known[False]))
        return cls(train_items, by_known[True][:equal], by_known[False][:equal], calibration_known)

    def items(self, which: str) -> list[MCItem]:
        """The training items of a :attr:`Variant.training_items` choice."""
        return {"all": self.all, "known": self.known, "unknown": self.unknown}[which]


def _finetune_and_evaluate(
    run: _DemoRun, variant: Variant, start: Path, tokenizer: Any, training: _TrainingSets
) -> OptionProbabilities:
    """Fine-tunes the model in ``start`` as ``variant`` says; returns its option table on the test people."""
    from transformers import AutoModelForCausalLM

    from llmcal.finetune.run import FinetuneSettings, evaluate_model, finetune

    model = AutoModelForCausalLM.from_pretrained(start, use_safetensors=True)
    settings = FinetuneSettings(
        loss=variant.loss,
        epochs=run.schedule.epochs,
        learning_rate=run.schedule.learning_rate,
        batch_size=32,
        loss_configs=variant.loss_configs(),
        style=CLOZE_STYLE,
        seed=run.seed,
    )
    trained, _ = finetune(
        model, tokenizer, training.items(variant.training_items), settings,
        run.out / "finetune" / variant.name.replace(" ", "-"),
        calibration_items=run.splits["calibration"], calibration_known=training.calibration_known,
        save_model=False,
    )  # fmt: skip
    return evaluate_model(trained, tokenizer, run.splits["test"], format="cloze", style=CLOZE_STYLE)


def _compare(out: Path, *, n_resamples: int) -> list[MetricChange]:
    """Pretrained vs aligned on the test people, written to ``out/comparison``; returns the changes."""
    from llmcal.comparison import compare
    from llmcal.reports.comparison import render_comparison

    pair = (
        "pretrained → aligned (DPO)",
        read_eval_run(out / "pretrained-test"),
        read_eval_run(out / "aligned-test"),
    )
    results = compare(
        [pair],
        out / "comparison",
        metrics=COMPARED_METRICS,
        settings=MetricSettings(n_resamples=n_resamples),
        render=render_comparison,
    )
    return results.changes


def _in_item_order(run_dir: Path, task: str, items: Sequence[MCItem]) -> list[ItemRecord]:
    """The records of a finished evaluation in the order of ``items`` (the order of the ground truth)."""
    return read_eval_run(run_dir).records_in_order(task, (item.id for item in items))


def _scores(records: list[ItemRecord], method: str) -> NDArray[np.float64]:
    return np.stack([option_scores(record, method) for record in records])


@dataclass(frozen=True)
class _DemoRun:
    """What every stage of one demo run reads: the world, where to write, the test people's labels."""

    world: BuiltWorld
    out: Path
    seed: int
    schedule: DemoSchedule
    eval_settings: EvalSettings
    splits: dict[str, list[MCItem]]  # calibration and test items, in file order
    known: NDArray[np.bool_]  # per test item, whether the person's facts were in pretraining
    stage: Callable[[str], None]


def run_demo(
    out_dir: str | Path,
    settings: DemoSettings | None = None,
    *,
    on_pass: Callable[[PassReport], None] | None = None,
    on_stage: Callable[[str], None] | None = None,
) -> DemoResults:
    """Runs the demo into ``out_dir`` and returns what it wrote to ``demo.json``.

    Args:
        out_dir: Output directory (evaluation runs, ``demo.json``).
        settings: What to run (default: :class:`DemoSettings`' defaults).
        on_pass: Called after each pretraining pass when the world is built.
        on_stage: Called with a short description as each stage starts.

    Raises:
        InputError: If ``out_dir`` exists and is not a directory.
    """
    settings = settings or DemoSettings()
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError(f"`out` {out} exists and is not a directory.", parameter="out")
    stage = on_stage or _quiet
    with OutputLock(out, "llmcal demo"):
        stage("building the knowledge world (pretraining until it recalls the known facts)")
        cache = settings.cache_dir or llmcal_cache_dir()
        world, cached = world_for(settings.preset_name, settings.seed, cache, on_pass=on_pass)
        run = _demo_run(world, out, settings, stage)
        stage("evaluating the pretrained model on the test and calibration people")
        records = _evaluate_pretrained(run)
        stage("fitting temperature scaling on the calibration people")
        rows, scaler = _pretrained_rows(records, run.known)
        alignment = _align_and_compare(run, settings.resamples) if settings.align else _Alignment()
        rows += alignment.rows
        rows += _finetune_rows(run, alignment.model_dir, settings.variants)
        real_results = None
        if settings.real_model is not None:
            real_results = run_real_model_story(
                out / "real-model", settings.real_model, seed=settings.seed, n_resamples=settings.resamples,
                stage=stage,
            )  # fmt: skip
        result = DemoResults(
            preset=settings.preset_name,
            seed=settings.seed,
            world=_world_facts(world, cached),
            schedule={**asdict(run.schedule), "n_resamples": settings.resamples},
            temperature=scaler.temperature_,
            rows=rows,
            alignment=alignment.summary(),
            comparison=alignment.comparison,
            real_model=real_results,
        )
        write_demo(out, result)
        stage("writing the HTML report")
        _write_report(out, settings)
        return result


def _quiet(text: str) -> None:
    """A stage callback that says nothing."""


def _demo_run(world: BuiltWorld, out: Path, settings: DemoSettings, stage: Callable[[str], None]) -> _DemoRun:
    """The context of the stages: the world's calibration and test items and the test people's labels."""
    splits = {split: load_items(world.task_file(split)) for split in ("calibration", "test")}
    truth = _ground_truth(world.task_file("test"))
    eval_settings = EvalSettings(
        ExtractionSettings(methods=DEMO_METHODS), MetricSettings(n_resamples=settings.resamples)
    )
    # The evaluation's records come back in item order (_in_item_order), so the labels follow the items.
    known = np.array([truth[item.id] for item in splits["test"]])
    return _DemoRun(world, out, settings.seed, settings.schedule, eval_settings, splits, known, stage)


def _evaluate_pretrained(run: _DemoRun) -> dict[str, list[ItemRecord]]:
    """Evaluates the pretrained model on each split into ``pretrained-<split>``; returns the records.

    The records of each split are in the order of its items.
    """
    from llmcal.scoring.hf import HFBackend

    backend = HFBackend(str(run.world.model_dir), device="cpu", dtype="float32")
    for split, items in run.splits.items():
        evaluate(
            [EvalTask(split, items, CLOZE_STYLE)],
            backend,
            run.eval_settings,
            run.out / f"pretrained-{split}",
            render=save_reliability_pngs,
        )
    return {
        split: _in_item_order(run.out / f"pretrained-{split}", split, items)
        for split, items in run.splits.items()
    }


def _pretrained_rows(
    records: dict[str, list[ItemRecord]], known: NDArray[np.bool_]
) -> tuple[list[DemoRow], TemperatureScaler]:
    """The pretrained model's rows per method, then with temperature scaling (fitted on calibration)."""
    rows: list[DemoRow] = []
    for method in DEMO_METHODS:
        table = probabilities(records["test"], method)
        rows.extend(_known_unknown_rows(f"pretrained {method}", table, known))
    scaler = TemperatureScaler().fit(
        logits=_scores(records["calibration"], "sum"), labels=[r.answer for r in records["calibration"]]
    )
    test = probabilities(records["test"], "sum")
    calibrated = test._replace(probs=scaler.transform(logits=_scores(records["test"], "sum")))
    rows.extend(_known_unknown_rows("pretrained sum + temperature", calibrated, known))
    return rows, scaler


_WORLD_SUMMARY_KEYS = (
    "digest",
    "recall_known",
    "recall_unknown",
    "recall_chance",
    "items",
    "model_knows_rate",
)


def _world_facts(world: BuiltWorld, cached: bool) -> dict[str, Any]:
    """What ``demo.json`` says of the world: its summary, how long it pretrained, whether it was cached."""
    facts = {key: world.summary[key] for key in _WORLD_SUMMARY_KEYS}
    return facts | {
        "pretraining_passes": len(world.summary["pretraining"]),
        "cached": cached,
        "path": str(world.root),
    }


@dataclass(frozen=True)
class _Alignment:
    """The DPO part's outcome (all empty when it did not run)."""

    model_dir: Path | None = None
    results: TrainingResults | None = None
    rows: list[DemoRow] = field(default_factory=list)
    comparison: list[MetricChange] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """The alignment's settings, pair count and log, for ``demo.json``."""
        alignment = self.results.to_dict() if self.results is not None else {}
        return {key: alignment[key] for key in ("settings", "n_pairs", "log") if key in alignment}


def _align_and_compare(run: _DemoRun, n_resamples: int) -> _Alignment:
    """Aligns the pretrained model with DPO, evaluates it on the test people and compares the two."""
    from llmcal.scoring.hf import HFBackend

    run.stage("aligning the pretrained model with DPO on the training people's preference pairs")
    model_dir, results = _align(run.world, run.out / "aligned", seed=run.seed, epochs=run.schedule.dpo_epochs)
    run.stage("evaluating the aligned model and comparing it with the pretrained one")
    backend = HFBackend(str(model_dir), device="cpu", dtype="float32")
    test = run.splits["test"]
    evaluate(
        [EvalTask("test", test, CLOZE_STYLE)], backend, run.eval_settings, run.out / "aligned-test",
        render=save_reliability_pngs,
    )  # fmt: skip
    records = _in_item_order(run.out / "aligned-test", "test", test)
    rows = [
        row
        for method in DEMO_METHODS
        for row in _known_unknown_rows(f"aligned {method}", probabilities(records, method), run.known)
    ]
    return _Alignment(model_dir, results, rows, _compare(run.out, n_resamples=n_resamples))


def _write_report(out: Path, settings: DemoSettings) -> None:
    from llmcal.reports.html import write_report

    title = f"llmcal demo: knowledge world '{settings.preset_name}', seed {settings.seed}"
    write_report([out], out / "report.html", title=title)
