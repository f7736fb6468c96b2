"""The study's micro settings: every part on the tiny model and a few fact items (seconds, not minutes)."""

from __future__ import annotations

import pytest

from llmcal.study.settings import (
    Candidate,
    Capacity,
    DetectorPart,
    PreventionPart,
    RestorePart,
    Splits,
    StudySettings,
)

MICRO_SPLITS = Splits(n_test=20, n_calibration=30, n_train=10)


def micro_study_settings(tiny_model_dir: str) -> StudySettings:
    """Every part and claim of the study on the tiny model: one seed (two for prevention), two lengths."""
    return StudySettings(
        name="micro",
        prevention=PreventionPart(
            model=tiny_model_dir,
            splits=MICRO_SPLITS,
            seeds=(0, 1),
            epochs=(1, 2),
            candidates=(
                Candidate("sft"),
                Candidate("ls", "smoothing", (0.1,)),
                Candidate("cogcalib-ls", "alpha", (0.1, 0.5)),
                Candidate("cogcalib-mbls", "alpha", (0.1,)),
                Candidate("cogcalib-ecp", "alpha", (0.1,)),
            ),
            capacities=(Capacity("lora-r8", 8, 1e-2), Capacity("full", 0, 1e-3)),
            capacity_losses=("sft", "cogcalib-ls"),
        ),
        detector=DetectorPart(
            models=(tiny_model_dir,), splits=MICRO_SPLITS, style_adaptation_items=10, seeds=(0,)
        ),
        restore=RestorePart(
            model=tiny_model_dir,
            splits=MICRO_SPLITS,
            seeds=(0,),
            dpo_epochs=1,
            epochs=1,
            candidates=(Candidate("cft"), Candidate("rcft", "rcft_scale", (1e-3, 10.0))),
        ),
        n_resamples=50,
    )


@pytest.fixture
def micro_settings(tiny_model_dir: str) -> StudySettings:
    """:func:`micro_study_settings` of the tiny model."""
    return micro_study_settings(tiny_model_dir)
