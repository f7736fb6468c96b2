"""The three papers' claims on real LLMs from PyPI (``llmcal demo --real``).

1. **Prevent (CogCalib).** LoRA fine-tuning of an instruct model (SmolLM2-135M-Instruct) on real fact
   items with ``sft``, ``ls`` and the three ``cogcalib-*`` losses, and SFT on known-only vs unknown-only
   items of the same size. Known means the model answered the item right before fine-tuning (SliCK's
   greedy criterion). Each variant's calibration is measured on held-out test items, overall and on the
   known and the unknown ones, and the NLL detector CogCalib trains with is checked on the test items.
2. **Alignment (Oh & Hwang).** DPO (LoRA) of a base model (Gemma 3 270M) on preference pairs from fact
   items (the gold option over a wrong one), evaluated with all four confidence methods and compared with
   the base model.
3. **Restore (Xiao et al.).** CFT and RCFT (LoRA) on the aligned model, on the same training items.

Each part reads its own draw of the fact items (a seeded shuffle): train, calibration (the detector's
threshold) and test. Every step's wall time and the process's peak memory are recorded. The strengths of
the losses are ``llmcal finetune``'s defaults; nothing here was tuned until a claim held.
"""

from __future__ import annotations

import copy
import random
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from llmcal.confidence.extraction import ExtractionSettings, extract_records
from llmcal.confidence.methods import option_scores, probabilities
from llmcal.confidence.records import ItemRecord
from llmcal.demo.knowledge_world import known_unknown_rows
from llmcal.demo.real_model import REAL_MODEL_METHODS
from llmcal.demo.settings import Variant
from llmcal.errors import InputError
from llmcal.evaluation import evaluate
from llmcal.finetune.settings import AlignSettings, FinetuneSettings, LoraSettings
from llmcal.knowledge.detector import youden_threshold
from llmcal.knowledge.ground_truth import known_from_records
from llmcal.locking import OutputLock
from llmcal.metrics.comparison import MetricChange
from llmcal.metrics.settings import MetricSettings
from llmcal.process_memory import peak_rss_gib, release_memory
from llmcal.reports.reliability import save_reliability_pngs
from llmcal.runs.demo import DemoRow
from llmcal.runs.eval_run import read_eval_run
from llmcal.runs.evaluation import EvalSettings
from llmcal.runs.manifest import as_json
from llmcal.runs.real_claims import (
    AlignmentClaims,
    DetectorCheck,
    PreventionClaims,
    RealClaimsResults,
    StepCost,
    write_real_claims,
)
from llmcal.tasks.schema import MCItem
from llmcal.tasks.selection import EvalTask, select_tasks
from llmcal.tasks.spec import ClozeStyle

__all__ = [
    "ALIGNMENT_VARIANTS",
    "PREVENTION_VARIANTS",
    "AlignmentStory",
    "PreventionStory",
    "RealClaims",
    "run_real_claims",
]

# Claim 1's fine-tuning variants, at `llmcal finetune`'s default strengths.
PREVENTION_VARIANTS = (
    Variant("sft", "sft"),
    Variant("ls", "ls", smoothing=0.1),
    Variant("cogcalib-ls", "cogcalib-ls", alpha=0.1),
    Variant("cogcalib-mbls", "cogcalib-mbls", alpha=0.1),
    Variant("cogcalib-ecp", "cogcalib-ecp", alpha=0.1),
    Variant("known-only sft", "sft", training_items="known"),
    Variant("unknown-only sft", "sft", training_items="unknown"),
)
# Claim 3's variants, on the aligned model: CFT, and RCFT at the authors' constant c = 1e-3 and at c = 10.
ALIGNMENT_VARIANTS = (
    Variant("aligned + cft", "cft", start="aligned"),
    Variant("aligned + rcft", "rcft", start="aligned"),
    # Under Adam, RCFT at c = 1e-3 trains like CFT (its SFT half only rescales the gradient); the knowledge
    # world found its calibration term bites at 1e4 times that.
    Variant("aligned + rcft c=10", "rcft", start="aligned", rcft_scale=10.0),
)
COMPARED_METRICS = ("accuracy", "ece", "sce", "brier")


@dataclass(frozen=True)
class PreventionStory:
    """Claim 1's model, items and fine-tuning (LoRA, the same for every variant)."""

    model: str = "smollm2-135m-instruct"
    task: str = "facts"
    n_train: int = 240
    n_calibration: int = 100
    n_test: int = 200
    epochs: int = 1
    learning_rate: float = 1e-3
    batch_size: int = 8
    lora: LoraSettings = field(default_factory=LoraSettings)
    variants: tuple[Variant, ...] = PREVENTION_VARIANTS


@dataclass(frozen=True)
class AlignmentStory:
    """Claims 2 and 3's base model, items, DPO and CFT / RCFT fine-tuning (LoRA)."""

    model: str = "gemma-3-270m"
    task: str = "facts"
    n_train: int = 160
    n_test: int = 200
    dpo_epochs: int = 1
    dpo_learning_rate: float = 5e-4
    dpo_beta: float = 0.1
    epochs: int = 1
    learning_rate: float = 1e-3
    batch_size: int = 8
    lora: LoraSettings = field(default_factory=LoraSettings)
    variants: tuple[Variant, ...] = ALIGNMENT_VARIANTS


@dataclass(frozen=True)
class RealClaims:
    """Which parts ``llmcal demo --real`` runs (``None``: skip that part)."""

    prevention: PreventionStory | None = field(default_factory=PreventionStory)
    alignment: AlignmentStory | None = field(default_factory=AlignmentStory)


class _Steps:
    """Announces each step and records its wall time and the process's peak memory when it ends."""

    def __init__(self, stage: Callable[[str], None]) -> None:
        self.stage = stage
        self.costs: list[StepCost] = []

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        self.stage(name)
        start = time.perf_counter()
        yield
        self.costs.append(StepCost(name, round(time.perf_counter() - start, 2), peak_rss_gib()))
        release_memory()


def run_real_claims(
    out: Path, claims: RealClaims, *, seed: int, n_resamples: int, stage: Callable[[str], None]
) -> RealClaimsResults:
    """Runs the parts of ``claims`` into ``out`` and writes ``out/real-claims.json``."""
    steps = _Steps(stage)
    with OutputLock(out, "llmcal demo --real"):
        prevention = None
        if claims.prevention is not None:
            prevention = _prevention(out / "prevention", claims.prevention, seed=seed, steps=steps)
        alignment = None
        if claims.alignment is not None:
            alignment = _alignment(
                out / "alignment", claims.alignment, seed=seed, n_resamples=n_resamples, steps=steps
            )
        results = RealClaimsResults(seed, prevention, alignment, steps.costs)
        write_real_claims(out, results)
    return results


def _draw(task_name: str, sizes: Sequence[int], seed: int) -> tuple[ClozeStyle, list[list[MCItem]]]:
    """The task's prompt style and consecutive slices of its items after a seeded shuffle."""
    (task,) = select_tasks([task_name])
    items = task.mc_items()
    if sum(sizes) > len(items):
        raise InputError(f"task {task_name!r} has {len(items)} items; the story draws {sum(sizes)}.")
    random.Random(seed).shuffle(items)
    slices, start = [], 0
    for size in sizes:
        slices.append(items[start : start + size])
        start += size
    return task.style, slices


def _sum_records(backend: Any, items: Sequence[MCItem], style: ClozeStyle, task: str) -> list[ItemRecord]:
    return extract_records(items, backend, ExtractionSettings(("sum",)), task=task, style=style)


def _known(records: Sequence[ItemRecord]) -> NDArray[np.bool_]:
    truth = known_from_records(records)
    return np.array([truth[record.id] for record in records])


def _gold_nll(records: Sequence[ItemRecord]) -> NDArray[np.float64]:
    """The gold option's negative log-likelihood (CogCalib's detector input) per record."""
    return np.array([-option_scores(record, "sum")[record.answer] for record in records])


def _finetune_settings(
    variant: Variant, story: PreventionStory | AlignmentStory, style: ClozeStyle, seed: int
) -> FinetuneSettings:
    return FinetuneSettings(
        loss=variant.loss,
        epochs=story.epochs,
        learning_rate=story.learning_rate,
        batch_size=story.batch_size,
        lora=story.lora,
        loss_configs=variant.loss_configs(),
        style=style,
        seed=seed,
    )


def _prevention(out: Path, story: PreventionStory, *, seed: int, steps: _Steps) -> PreventionClaims:
    from llmcal.finetune.run import evaluate_model, finetune
    from llmcal.scoring.hf import HFBackend

    style, (train, calibration, test) = _draw(
        story.task, (story.n_train, story.n_calibration, story.n_test), seed
    )
    with steps(f"{story.model}: loading"):
        backend = HFBackend(story.model, device="cpu", dtype="float32")
    with steps(f"{story.model}: which train, calibration and test items it knows before fine-tuning"):
        records = {
            split: _sum_records(backend, items, style, split)
            for split, items in (("train", train), ("calibration", calibration), ("test", test))
        }
        known = {split: _known(split_records) for split, split_records in records.items()}
    detector = youden_threshold(_gold_nll(records["calibration"]), known["calibration"])
    flagged = detector.is_known(_gold_nll(records["test"]))
    truth = known["test"]
    check = DetectorCheck(
        threshold=detector.threshold,
        accuracy=float((flagged == truth).mean()),
        tpr=float(flagged[truth].mean()) if truth.any() else float("nan"),
        tnr=float((~flagged[~truth]).mean()) if (~truth).any() else float("nan"),
        n_known=int(truth.sum()),
        n_unknown=int((~truth).sum()),
    )
    rows = known_unknown_rows("base", probabilities(records["test"], "sum"), truth)
    by_known = {
        flag: [item for item, k in zip(train, known["train"], strict=True) if k == flag]
        for flag in (True, False)
    }
    equal = min(len(by_known[True]), len(by_known[False]))
    training = {"all": train, "known": by_known[True][:equal], "unknown": by_known[False][:equal]}
    for variant in story.variants:
        with steps(f"{story.model}: LoRA fine-tuning, {variant.name}"):
            trained, _ = finetune(
                copy.deepcopy(backend.model), backend.tokenizer, training[variant.training_items],
                _finetune_settings(variant, story, style, seed), out / variant.name.replace(" ", "-"),
                calibration_items=calibration, calibration_known=known["calibration"].tolist(),
                save_model=False,
            )  # fmt: skip
            table = evaluate_model(trained, backend.tokenizer, test, format="cloze", style=style)
            del trained  # before the next copy: two models of this size at once are the peak's bulk
            rows.extend(known_unknown_rows(variant.name, table, truth))
    settings = {
        "task": story.task, "n_train": story.n_train, "n_calibration": story.n_calibration,
        "n_test": story.n_test, "n_single_kind_train": equal, "epochs": story.epochs,
        "learning_rate": story.learning_rate, "batch_size": story.batch_size,
        "lora": asdict(story.lora), "variants": [asdict(variant) for variant in story.variants],
    }  # fmt: skip
    return PreventionClaims(story.model, backend.describe(), as_json(settings), check, rows)


def _alignment(
    out: Path, story: AlignmentStory, *, seed: int, n_resamples: int, steps: _Steps
) -> AlignmentClaims:
    from llmcal.finetune.alignment import align, preference_pairs_from_items
    from llmcal.scoring.hf import HFBackend

    style, (train, test) = _draw(story.task, (story.n_train, story.n_test), seed)
    sample = _Sample(style, train, test, REAL_MODEL_METHODS, seed, n_resamples)
    with steps(f"{story.model}: loading"):
        backend = HFBackend(story.model, device="cpu", dtype="float32")
    with steps(f"{story.model}: evaluating the base model, {len(REAL_MODEL_METHODS)} methods"):
        base_records = sample.evaluate(backend, out / "base-test")
    truth = _known(base_records)
    rows = known_unknown_rows("base", probabilities(base_records, "sum"), truth)
    dpo = _dpo_settings(story, seed)
    pairs = preference_pairs_from_items(train, style=style, seed=seed)
    with steps(f"{story.model}: DPO on {len(pairs)} preference pairs (LoRA)"):
        aligned, alignment = align(
            copy.deepcopy(backend.model), backend.tokenizer, pairs, dpo, out / "aligned", save_model=False
        )
    # The base model is not needed after DPO: keep its description and tokenizer, free its weights.
    source, tokenizer = backend.describe(), backend.tokenizer
    del backend
    aligned_backend = HFBackend(
        "aligned", device="cpu", dtype="float32", model_object=aligned, tokenizer=tokenizer
    )
    with steps(f"{story.model}: evaluating the aligned model, {len(REAL_MODEL_METHODS)} methods"):
        aligned_records = sample.evaluate(aligned_backend, out / "aligned-test")
    rows.extend(known_unknown_rows("aligned", probabilities(aligned_records, "sum"), truth))
    with steps("comparing the base and the aligned model"):
        changes = _base_vs_aligned(out, story.model, n_resamples)
    rows.extend(_lora_variant_rows(aligned, tokenizer, sample, truth, story, out=out, steps=steps))
    recorded = {
        "task": story.task, "n_train": story.n_train, "n_test": story.n_test, "n_pairs": len(pairs),
        "dpo": dpo.record(), "epochs": story.epochs, "learning_rate": story.learning_rate,
        "batch_size": story.batch_size, "lora": asdict(story.lora),
        "variants": [asdict(variant) for variant in story.variants],
    }  # fmt: skip
    return AlignmentClaims(story.model, source, as_json(recorded), changes, rows, list(alignment.log))


@dataclass(frozen=True)
class _Sample:
    """The questions drawn for a story (training and test), their prompt style and how they are evaluated."""

    style: ClozeStyle
    train: list[MCItem]
    test: list[MCItem]
    methods: tuple[str, ...]
    seed: int
    n_resamples: int

    def evaluate(self, backend: Any, out_dir: Path) -> list[ItemRecord]:
        """Evaluates ``backend`` on the test questions into ``out_dir``; its records, in question order."""
        settings = EvalSettings(
            ExtractionSettings(methods=self.methods, seed=self.seed),
            MetricSettings(n_resamples=self.n_resamples),
        )
        evaluate(
            [EvalTask("test", self.test, self.style)],
            backend,
            settings,
            out_dir,
            render=save_reliability_pngs,
        )
        return read_eval_run(out_dir).records_in_order("test", [item.id for item in self.test])


def _dpo_settings(story: AlignmentStory, seed: int) -> AlignSettings:
    """The story's DPO run: LoRA, its beta, epochs and learning rate."""
    return AlignSettings(
        loss="dpo", beta=story.dpo_beta, epochs=story.dpo_epochs, learning_rate=story.dpo_learning_rate,
        batch_size=story.batch_size, lora=story.lora, seed=seed,
    )  # fmt: skip


def _base_vs_aligned(out: Path, model: str, n_resamples: int) -> list[MetricChange]:
    """Compares the runs in ``base-test`` and ``aligned-test`` into ``comparison``; returns the changes."""
    from llmcal.comparison import compare
    from llmcal.reports.comparison import render_comparison

    pair = (f"{model} → DPO", read_eval_run(out / "base-test"), read_eval_run(out / "aligned-test"))
    comparison = compare(
        [pair], out / "comparison", metrics=COMPARED_METRICS,
        settings=MetricSettings(n_resamples=n_resamples), render=render_comparison,
    )  # fmt: skip
    return comparison.changes


def _lora_variant_rows(
    aligned: Any,
    tokenizer: Any,
    sample: _Sample,
    truth: NDArray[np.bool_],
    story: AlignmentStory,
    *,
    out: Path,
    steps: _Steps,
) -> list[DemoRow]:
    """LoRA-fine-tunes a copy of the aligned model per variant (CFT, RCFT); each one's rows on the test."""
    from llmcal.finetune.run import evaluate_model, finetune

    rows: list[DemoRow] = []
    for variant in story.variants:
        with steps(f"{story.model}: LoRA fine-tuning, {variant.name}"):
            trained, _ = finetune(
                copy.deepcopy(aligned), tokenizer, sample.train,
                _finetune_settings(variant, story, sample.style, sample.seed),
                out / variant.name.replace(" + ", "-").replace(" ", "-"), save_model=False,
            )  # fmt: skip
            table = evaluate_model(trained, tokenizer, sample.test, format="cloze", style=sample.style)
            del trained
            rows.extend(known_unknown_rows(variant.name, table, truth))
    return rows
