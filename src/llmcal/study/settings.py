"""What ``llmcal study`` runs: the models, item splits, grids and seeds of each part, as data.

Torch-free, so ``llmcal study --help`` and the settings check run without loading a model. The two presets
are :data:`PRESETS` ``full`` (the study whose verdicts docs/study.md reports) and ``quick`` (the same
pipeline on a few items and one seed, a smoke run); :func:`demo_settings` is ``llmcal demo --real``, the
full study's strongest contrasts on one seed. Every number a part uses is here; the parts read nothing
else.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from llmcal.errors import InputError

__all__ = [
    "MIN_RESAMPLES",
    "PRESETS",
    "Candidate",
    "Capacity",
    "DetectorPart",
    "PreventionPart",
    "RestorePart",
    "Splits",
    "StudySettings",
    "demo_settings",
    "preset",
]


@dataclass(frozen=True)
class Splits:
    """How one model's items are drawn from a task: a fixed test and calibration split, then a pool.

    The test and calibration items are the same for every seed (so seeds can be paired item by item); each
    seed draws its training items from the pool.
    """

    task: str = "facts"
    n_test: int = 250
    n_calibration: int = 120
    n_train: int = 120


@dataclass(frozen=True)
class Capacity:
    """How much of the model a fine-tuning may change: LoRA of a rank, or every weight (``rank`` 0)."""

    name: str
    rank: int = 0
    learning_rate: float = 1e-3

    @property
    def full(self) -> bool:
        """Full fine-tuning."""
        return self.rank == 0


@dataclass(frozen=True)
class Candidate:
    """A loss and the hyperparameter values a user would try for it, chosen on the calibration split.

    Attributes:
        loss: Registered loss name.
        parameter: The hyperparameter tried (``smoothing``, ``alpha``, ``rcft_scale``); empty: none.
        values: Its values; the first is ``llmcal finetune``'s default where it has one.
    """

    loss: str
    parameter: str = ""
    values: tuple[float, ...] = ()


# The losses of the CogCalib comparison, each with its strength grid (plain LS and the three CogCalib ones).
PREVENTION_CANDIDATES = (
    Candidate("sft"),
    Candidate("ls", "smoothing", (0.1, 0.3)),
    Candidate("cogcalib-ls", "alpha", (0.1, 0.3)),
    Candidate("cogcalib-mbls", "alpha", (0.1, 0.3)),
    Candidate("cogcalib-ecp", "alpha", (0.1, 0.5)),
)


@dataclass(frozen=True)
class PreventionPart:
    """CogCalib on an instruct model: losses x training length x capacity, known and unknown items apart.

    Every fine-tuning trains ``max(epochs)`` epochs (cosine schedule over them) and is read after each of
    ``epochs``. Hyperparameters are chosen on the calibration split from the ``selection_seed`` runs at the
    first capacity and the last epoch count; the test split never enters the choice.

    Attributes:
        model: Packaged model name or path.
        splits: Item splits.
        seeds: Seeds of every cell (training draw, data order, LoRA init).
        epochs: Training lengths read.
        candidates: The losses compared and their hyperparameter grids.
        capacities: LoRA ranks and full fine-tuning; the first is the main one.
        capacity_losses: Losses also run at the other capacities (the dose-response in capacity).
        batch_size: Items per step.
        knowledge_only: Also fine-tune (main capacity, SFT) on known-only and on unknown-only items, as many
            of each (the paper's knowledge ratio 5:0 vs 0:5).
        accuracy_tolerance: A hyperparameter value is eligible if its calibration-split accuracy is at most
            this far below SFT's (a user would not trade accuracy for calibration).
    """

    model: str = "smollm2-135m-instruct"
    splits: Splits = field(default_factory=Splits)
    seeds: tuple[int, ...] = (0, 1, 2)
    epochs: tuple[int, ...] = (1, 2, 4)
    candidates: tuple[Candidate, ...] = PREVENTION_CANDIDATES
    capacities: tuple[Capacity, ...] = (
        Capacity("lora-r8", 8, 1e-3),
        Capacity("lora-r32", 32, 1e-3),
        Capacity("full", 0, 5e-5),
    )
    capacity_losses: tuple[str, ...] = ("sft", "cogcalib-ls")
    batch_size: int = 8
    knowledge_only: bool = True
    accuracy_tolerance: float = 0.02


@dataclass(frozen=True)
class DetectorPart:
    """CogCalib's known/unknown NLL detector: threshold fitted on the calibration split, read on the test.

    Attributes:
        models: Models whose detector is measured (the fine-tuned instruct model and the base model).
        splits: Item splits (the same draw as the other parts of each model).
        style_adaptation_items: Training items of the one-epoch SFT warm-up before the detector is fitted
            (the paper's style adaptation); 0 leaves the adapted variants out.
        seeds: Seeds of the adapted variants (their training draw).
        learning_rate: The warm-up's learning rate (LoRA rank 8).
    """

    models: tuple[str, ...] = ("smollm2-135m-instruct", "gemma-3-270m")
    splits: Splits = field(default_factory=Splits)
    style_adaptation_items: int = 120
    seeds: tuple[int, ...] = (0, 1, 2)
    learning_rate: float = 1e-3


RESTORE_CANDIDATES = (
    Candidate("cft"),
    # The authors' mix a = 0.5 with their c = 1e-3, and c large enough for the calibration term to act.
    Candidate("rcft", "rcft_scale", (1e-3, 1.0, 10.0)),
)


@dataclass(frozen=True)
class RestorePart:
    """Alignment and restoring calibration: DPO of a base model, then CFT and RCFT, vs temperature scaling.

    Attributes:
        model: Packaged base model.
        splits: Item splits; the training items give DPO's preference pairs and CFT's data.
        seeds: Seeds (training draw, DPO, CFT).
        dpo_epochs: DPO epochs (LoRA); long enough for a clear confidence collapse.
        dpo_learning_rate: DPO's peak learning rate.
        dpo_beta: DPO's beta.
        candidates: The restoring fine-tunings and their grids (chosen on the calibration split).
        epochs: CFT / RCFT epochs (LoRA rank 8).
        learning_rate: Their learning rate.
        batch_size: Items or pairs per step.
        accuracy_tolerance: An RCFT constant is eligible if its calibration accuracy is at most this far
            below CFT's.
    """

    model: str = "gemma-3-270m"
    splits: Splits = field(default_factory=Splits)
    seeds: tuple[int, ...] = (0, 1, 2)
    dpo_epochs: int = 3
    dpo_learning_rate: float = 5e-4
    dpo_beta: float = 0.1
    candidates: tuple[Candidate, ...] = RESTORE_CANDIDATES
    epochs: int = 2
    learning_rate: float = 1e-3
    batch_size: int = 8
    accuracy_tolerance: float = 0.02


@dataclass(frozen=True)
class StudySettings:
    """The whole study: its parts (``None`` skips one), the bootstrap and the seed of the item draws.

    Attributes:
        name: Preset name, recorded.
        prevention: CogCalib's losses.
        detector: CogCalib's detector.
        restore: DPO, CFT and RCFT.
        n_resamples: Bootstrap resamples of every interval.
        n_bins: ECE bins (equal width; the papers' 10).
        split_seed: Seed of the shuffle that draws the test and calibration splits.
    """

    name: str = "full"
    prevention: PreventionPart | None = field(default_factory=PreventionPart)
    detector: DetectorPart | None = field(default_factory=DetectorPart)
    restore: RestorePart | None = field(default_factory=RestorePart)
    n_resamples: int = 1000
    n_bins: int = 10
    split_seed: int = 0

    def __post_init__(self) -> None:
        _check(self)

    def record(self) -> dict[str, Any]:
        """The settings as the study's manifest records them."""
        return asdict(self)


# Fewer bootstrap resamples than this leave the 95% intervals' ends to one or two draws.
MIN_RESAMPLES = 10


def _check(settings: StudySettings) -> None:
    """Refuses settings no part can run, naming the field."""
    parts = [settings.prevention, settings.detector, settings.restore]
    if all(part is None for part in parts):
        raise InputError("StudySettings: every part is None; nothing to run.")
    if settings.n_resamples < MIN_RESAMPLES:
        raise InputError(
            f"StudySettings.n_resamples must be at least {MIN_RESAMPLES}; got {settings.n_resamples}."
        )
    for part in parts:
        if part is None:
            continue
        name = type(part).__name__
        if not part.seeds:
            raise InputError(f"{name}.seeds is empty; give at least one seed.")
        for split, size in asdict(part.splits).items():
            if split.startswith("n_") and size < 10:
                raise InputError(f"{name}.splits.{split} must be at least 10; got {size}.")
    prevention = settings.prevention
    if prevention is not None:
        if not prevention.capacities or not prevention.epochs or min(prevention.epochs) < 1:
            raise InputError("PreventionPart needs at least one capacity and epoch counts of at least 1.")
        losses = {candidate.loss for candidate in prevention.candidates}
        if "sft" not in losses:
            raise InputError("PreventionPart.candidates must include 'sft', the baseline of every claim.")
        unknown = set(prevention.capacity_losses) - losses
        if unknown:
            raise InputError(
                f"PreventionPart.capacity_losses names {sorted(unknown)}, which are not among its candidates."
            )


_QUICK_SPLITS = Splits(n_test=40, n_calibration=30, n_train=24)

PRESETS = {
    "full": StudySettings(),
    # Every part and claim on a few items, one seed and two training lengths: proves the pipeline end to
    # end in minutes; its verdicts have no power and say so.
    "quick": StudySettings(
        name="quick",
        prevention=PreventionPart(
            splits=_QUICK_SPLITS,
            seeds=(0,),
            epochs=(1, 2),
            candidates=(
                Candidate("sft"),
                Candidate("ls", "smoothing", (0.1,)),
                Candidate("cogcalib-ls", "alpha", (0.1, 0.3)),
                Candidate("cogcalib-mbls", "alpha", (0.1,)),
                Candidate("cogcalib-ecp", "alpha", (0.1,)),
            ),
            capacities=(Capacity("lora-r8", 8, 1e-3), Capacity("full", 0, 5e-5)),
            capacity_losses=("sft",),
        ),
        detector=DetectorPart(splits=_QUICK_SPLITS, style_adaptation_items=24, seeds=(0,)),
        restore=RestorePart(
            splits=_QUICK_SPLITS,
            seeds=(0,),
            dpo_epochs=1,
            epochs=1,
            candidates=(Candidate("cft"), Candidate("rcft", "rcft_scale", (1e-3, 10.0))),
        ),
        n_resamples=100,
    ),
}


def preset(name: str) -> StudySettings:
    """The preset called ``name``.

    Raises:
        InputError: If there is none.
    """
    if name not in PRESETS:
        raise InputError(f"No study preset {name!r}; choose one of {', '.join(PRESETS)}.", parameter="preset")
    return PRESETS[name]


def demo_settings(seed: int) -> StudySettings:
    """``llmcal demo --real``: the full study's strongest contrasts on one seed, ~10 minutes on 2 cores.

    The cells whose effects the full study found clearest, with its settings, so each cell is the full study's
    cell of that seed (same spec, same numbers): SmolLM2 fully fine-tuned with SFT and with cogcalib-ls at the
    strength the full study chose (overconfidence on known items grows from 1 to 4 epochs; on three seeds
    cogcalib-ls lowers ECE, partly), Gemma aligned with DPO for 3 epochs (the confidence collapse), and CFT
    after it against temperature scaling; the NLL detector read off the two base models' cells (no extra run).
    Left out: the LoRA grids and the knowledge-ratio runs (their effects are too small to show on one seed),
    the detector's style adaptation and RCFT (at the constant the full study chose it trains like CFT).
    """
    # The full preset is every part's defaults.
    return StudySettings(
        name="demo",
        prevention=PreventionPart(
            seeds=(seed,),
            candidates=(Candidate("sft"), Candidate("cogcalib-ls", "alpha", (0.1,))),
            capacities=(PreventionPart().capacities[-1],),
            knowledge_only=False,
        ),
        detector=DetectorPart(style_adaptation_items=0, seeds=(seed,)),
        restore=RestorePart(seeds=(seed,), candidates=(Candidate("cft"),)),
    )
