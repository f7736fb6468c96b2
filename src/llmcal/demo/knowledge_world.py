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
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from llmcal.cache import cache_dir as llmcal_cache_dir
from llmcal.calibrators.temperature import TemperatureScaler
from llmcal.confidence.extraction import ExtractionSettings
from llmcal.confidence.methods import OptionProbabilities, option_scores, probabilities
from llmcal.confidence.records import ItemRecord
from llmcal.demo.real_model import RealModelStory, run_real_model_story
from llmcal.errors import InputError
from llmcal.evaluation import evaluate
from llmcal.locking import OutputLock
from llmcal.metrics.comparison import MetricChange
from llmcal.metrics.settings import MetricSettings
from llmcal.metrics.summary import calibration_row
from llmcal.reports.reliability import save_reliability_pngs
from llmcal.runs.demo import DemoResults, DemoRow, write_demo
from llmcal.runs.evaluation import EvalSettings, read_eval_run
from llmcal.runs.training import TrainingResults
from llmcal.tasks.loading import load_items
from llmcal.tasks.schema import MCItem
from llmcal.tasks.selection import EvalTask
from llmcal.world.build import CLOZE_STYLE, BuiltWorld, build_world, load_built_world
from llmcal.world.presets import preset
from llmcal.world.pretraining import PassReport

__all__ = [
    "SCHEDULES",
    "VARIANTS",
    "DemoSchedule",
    "Variant",
    "known_unknown_rows",
    "run_demo",
    "world_for",
]

DEMO_METHODS = ("sum", "mean", "min")


@dataclass(frozen=True)
class Variant:
    """A fine-tuning variant of the demo: a loss, its strength, and which training items it sees."""

    name: str
    loss: str
    training_items: str = "all"  # all | known | unknown (by whether the person's facts were in pretraining)
    smoothing: float = 0.0
    alpha: float = 0.0
    rcft_scale: float = 1e-3  # RCFT's constant c in (1 - a) L_SFT + a c L_cal; the authors' 1e-3
    start: str = "pretrained"  # pretrained | aligned: the model fine-tuning starts from

    def loss_configs(self) -> tuple[Any, ...]:
        """The loss settings this variant trains with (each loss reads the one of its own type)."""
        from llmcal.finetune.losses import (
            CogCalibConfig,
            LabelSmoothingConfig,
            MarginCogCalibConfig,
            RcftConfig,
        )

        return (
            LabelSmoothingConfig(smoothing=self.smoothing),
            CogCalibConfig(alpha=self.alpha),
            MarginCogCalibConfig(alpha=self.alpha),
            RcftConfig(rcft_scale=self.rcft_scale),
        )


# Strengths follow the prototype that found this regime (6 epochs at lr 1e-3, full fine-tuning).
VARIANTS = (
    Variant("sft", "sft"),
    Variant("ls 0.3", "ls", smoothing=0.3),
    Variant("cogcalib-ls 0.3", "cogcalib-ls", alpha=0.3),
    Variant("cogcalib-ecp 0.5", "cogcalib-ecp", alpha=0.5),
    Variant("known-only sft", "sft", training_items="known"),
    Variant("unknown-only sft", "sft", training_items="unknown"),
    Variant("aligned + cft", "cft", start="aligned"),
    Variant("aligned + rcft", "rcft", start="aligned"),
    # The authors' c = 1e-3 leaves RCFT indistinguishable from CFT here; 1e4 times that is where it bites.
    Variant("aligned + rcft c=10", "rcft", start="aligned", rcft_scale=10.0),
)

COMPARED_METRICS = ("accuracy", "ece", "sce", "brier", "smooth_ece")


@dataclass(frozen=True)
class DemoSchedule:
    """How long the demo trains after pretraining, and how many bootstrap resamples it draws.

    Attributes:
        epochs: Fine-tuning epochs of every variant (full fine-tuning, batch 32).
        learning_rate: Their peak learning rate.
        dpo_epochs: Epochs of the DPO alignment (learning rate 5e-4, beta 0.1, batch 32).
        n_resamples: Bootstrap resamples of every interval.
    """

    epochs: int = 6
    learning_rate: float = 1e-3
    dpo_epochs: int = 3
    n_resamples: int = 1000


# The default schedule follows the prototype that found this regime (6 epochs at lr 1e-3). The quick one
# halves the fine-tuning steps at twice the learning rate, aligns for 2 epochs, and draws 200 resamples.
SCHEDULES = {
    "micro": DemoSchedule(),
    "quick": DemoSchedule(epochs=3, learning_rate=2e-3, dpo_epochs=2, n_resamples=200),
    "default": DemoSchedule(),
}


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


def known_unknown_rows(variant: str, table: OptionProbabilities, known: NDArray[np.bool_]) -> list[DemoRow]:
    """The variant's calibration on all test items, on the known ones and on the unknown ones.

    A group with no items is left out.
    """
    groups = (("all", np.ones_like(known)), ("known", known), ("unknown", ~known))
    return [
        DemoRow(variant, group, calibration_row(*table.subset(mask))) for group, mask in groups if mask.any()
    ]


def _task_records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


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


def _finetune_rows(
    world: BuiltWorld,
    aligned_dir: Path | None,
    calibration_items: list[MCItem],
    test_items: list[MCItem],
    out: Path,
    known: NDArray[np.bool_],
    *,
    seed: int,
    schedule: DemoSchedule,
    variants: Sequence[Variant],
    stage: Callable[[str], None],
) -> list[DemoRow]:
    """Fine-tunes a fresh copy of the pretrained model per variant and evaluates it on the test people."""
    if not variants:
        return []
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from llmcal.finetune.run import FinetuneSettings, evaluate_model, finetune

    tokenizer = AutoTokenizer.from_pretrained(world.model_dir)
    train_raw = _task_records(world.task_file("train"))
    train_items = load_items(world.task_file("train"))
    calibration_known = [bool(r["model_knows"]) for r in _task_records(world.task_file("calibration"))]
    pairs = list(zip(train_items, train_raw, strict=True))
    by_known = {flag: [item for item, raw in pairs if raw["known_entity"] == flag] for flag in (True, False)}
    equal = min(len(by_known[True]), len(by_known[False]))
    rows: list[DemoRow] = []
    for variant in variants:
        stage(f"fine-tuning: {variant.name}")
        items = {"all": train_items, "known": by_known[True][:equal], "unknown": by_known[False][:equal]}[
            variant.training_items
        ]
        start = aligned_dir if variant.start == "aligned" else world.model_dir
        if start is None:
            raise InputError(
                f"demo variant {variant.name!r} starts from the aligned model; run the alignment."
            )
        model = AutoModelForCausalLM.from_pretrained(start, use_safetensors=True)
        settings = FinetuneSettings(
            loss=variant.loss,
            epochs=schedule.epochs,
            learning_rate=schedule.learning_rate,
            batch_size=32,
            loss_configs=variant.loss_configs(),
            style=CLOZE_STYLE,
            seed=seed,
        )
        trained, _ = finetune(
            model, tokenizer, items, settings, out / variant.name.replace(" ", "-"),
            calibration_items=calibration_items, calibration_known=calibration_known, save_model=False,
        )  # fmt: skip
        table = evaluate_model(trained, tokenizer, test_items, format="cloze", style=CLOZE_STYLE)
        rows.extend(known_unknown_rows(variant.name, table, known))
    return rows


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


def run_demo(
    out_dir: str | Path,
    *,
    preset_name: str = "default",
    seed: int = 0,
    cache_dir: Path | None = None,
    n_resamples: int | None = None,
    variants: Sequence[Variant] = VARIANTS,
    align: bool = True,
    on_pass: Callable[[PassReport], None] | None = None,
    on_stage: Callable[[str], None] | None = None,
    real_model: RealModelStory | None = None,
) -> DemoResults:
    """Runs the demo into ``out_dir`` and returns what it wrote to ``demo.json``.

    Args:
        out_dir: Output directory (evaluation runs, ``demo.json``).
        preset_name: World preset (``quick`` or ``default``; ``micro`` for tests).
        seed: World and model seed.
        cache_dir: Where worlds are cached (default :func:`llmcal.cache.cache_dir`).
        n_resamples: Bootstrap resamples of the evaluation results (default: the preset's
            :data:`SCHEDULES` entry).
        variants: Fine-tuning variants to run (empty: measure and post-hoc calibrate only).
        align: Whether to align the pretrained model with DPO and compare the two (needed by variants
            that start from the aligned model).
        on_pass: Called after each pretraining pass when the world is built.
        on_stage: Called with a short description as each stage starts.
        real_model: Also run the real-model part (:mod:`llmcal.demo.real_model`) into ``out/real-model``.
    """
    from llmcal.scoring.hf import HFBackend

    def stage(text: str) -> None:
        if on_stage is not None:
            on_stage(text)

    schedule = SCHEDULES.get(preset_name, DemoSchedule())
    n_resamples = schedule.n_resamples if n_resamples is None else n_resamples
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} exists and is not a directory.")
    with OutputLock(out, "llmcal demo"):
        stage("building the knowledge world (pretraining until it recalls the known facts)")
        world, cached = world_for(preset_name, seed, cache_dir or llmcal_cache_dir(), on_pass=on_pass)

        stage("evaluating the pretrained model on the test and calibration people")
        backend = HFBackend(str(world.model_dir), device="cpu", dtype="float32")
        settings = EvalSettings(
            ExtractionSettings(methods=DEMO_METHODS), MetricSettings(n_resamples=n_resamples)
        )
        splits = {split: load_items(world.task_file(split)) for split in ("calibration", "test")}
        for split, items in splits.items():
            evaluate(
                [EvalTask(split, items, CLOZE_STYLE)],
                backend,
                settings,
                out / f"pretrained-{split}",
                render=save_reliability_pngs,
            )
        records = {
            split: _in_item_order(out / f"pretrained-{split}", split, items)
            for split, items in splits.items()
        }
        truth = _ground_truth(world.task_file("test"))
        known = np.array([truth[record.id] for record in records["test"]])

        stage("fitting temperature scaling on the calibration people")
        rows: list[DemoRow] = []
        for method in DEMO_METHODS:
            rows.extend(
                known_unknown_rows(f"pretrained {method}", probabilities(records["test"], method), known)
            )
        scaler = TemperatureScaler().fit(
            logits=_scores(records["calibration"], "sum"), labels=[r.answer for r in records["calibration"]]
        )
        test = probabilities(records["test"], "sum")
        calibrated = test._replace(probs=scaler.transform(logits=_scores(records["test"], "sum")))
        rows.extend(known_unknown_rows("pretrained sum + temperature", calibrated, known))

        summary_keys = (
            "digest",
            "recall_known",
            "recall_unknown",
            "recall_chance",
            "items",
            "model_knows_rate",
        )
        world_facts = {key: world.summary[key] for key in summary_keys}
        world_facts |= {
            "pretraining_passes": len(world.summary["pretraining"]),
            "cached": cached,
            "path": str(world.root),
        }
        aligned_dir: Path | None = None
        comparison: list[MetricChange] = []
        alignment_results: TrainingResults | None = None
        if align:
            stage("aligning the pretrained model with DPO on the training people's preference pairs")
            aligned_dir, alignment_results = _align(
                world, out / "aligned", seed=seed, epochs=schedule.dpo_epochs
            )
            stage("evaluating the aligned model and comparing it with the pretrained one")
            aligned_backend = HFBackend(str(aligned_dir), device="cpu", dtype="float32")
            evaluate(
                [EvalTask("test", splits["test"], CLOZE_STYLE)],
                aligned_backend,
                settings,
                out / "aligned-test",
                render=save_reliability_pngs,
            )
            aligned_records = _in_item_order(out / "aligned-test", "test", splits["test"])
            for method in DEMO_METHODS:
                table = probabilities(aligned_records, method)
                rows.extend(known_unknown_rows(f"aligned {method}", table, known))
            comparison = _compare(out, n_resamples=n_resamples)
        tuned = _finetune_rows(
            world, aligned_dir, splits["calibration"], splits["test"], out / "finetune", known, seed=seed,
            schedule=schedule, variants=variants, stage=stage,
        )  # fmt: skip
        rows.extend(tuned)

        real_results = None
        if real_model is not None:
            real_results = run_real_model_story(
                out / "real-model", real_model, seed=seed, n_resamples=n_resamples, stage=stage
            )
        alignment = alignment_results.to_dict() if alignment_results is not None else {}
        result = DemoResults(
            preset=preset_name,
            seed=seed,
            world=world_facts,
            schedule={**asdict(schedule), "n_resamples": n_resamples},
            temperature=scaler.temperature_,
            rows=rows,
            alignment={key: alignment[key] for key in ("settings", "n_pairs", "log") if key in alignment},
            comparison=comparison,
            real_model=real_results,
        )
        write_demo(out, result)
        stage("writing the HTML report")
        from llmcal.reports.html import write_report

        write_report(
            [out], out / "report.html", title=f"llmcal demo: knowledge world '{preset_name}', seed {seed}"
        )
        return result
