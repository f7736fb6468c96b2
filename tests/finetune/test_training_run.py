"""The sequence every training command shares (run_training), driven by a fake procedure: no model trains."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import torch

from llmcal import InputError
from llmcal.finetune.model_evaluation import EvaluationItems
from llmcal.finetune.training_run import TrainedModel, quiet_trainer, run_training
from llmcal.locking import LOCK_NAME, output_lock
from llmcal.runs.manifest import build_manifest


class _Model:
    """What the skeleton asks of a trained model: eval mode, and saving itself."""

    def __init__(self) -> None:
        self.evaluated = False

    def eval(self) -> _Model:
        self.evaluated = True
        return self

    def save_pretrained(self, folder: Path, *, safe_serialization: bool) -> None:
        (folder / "weights").write_text(f"safe={safe_serialization}")


class _Tokenizer:
    def save_pretrained(self, folder: Path) -> None:
        (folder / "tokenizer").write_text("vocabulary")


@dataclass
class _Procedure:
    """Records what the skeleton calls, and when; ``refuse`` makes the start check fail."""

    main_process: bool = True
    refuse: bool = False
    checkpoint: str | None = None
    calls: list[str] = field(default_factory=list)
    trained: _Model = field(default_factory=_Model)
    seed_seen: int | None = None

    @property
    def kind(self) -> str:
        return "finetune"

    @property
    def seed(self) -> int:
        return 7

    @property
    def n_examples(self) -> int:
        return 3

    def settings_record(self) -> dict[str, Any]:
        return {"method": "fake"}

    def manifest(self, model: Any) -> dict[str, Any]:
        self.calls.append("manifest")
        return build_manifest("finetune", model={"name": "fake"}, settings={"method": "fake"}, tasks={})

    def start(self, out: Path, manifest: dict[str, Any]) -> str | None:
        self.calls.append("start")
        assert (out / LOCK_NAME).exists()  # under the lock
        assert not (out / "run.json").exists()  # before run.json is (re)written
        if self.refuse:
            raise InputError("not this run")
        return self.checkpoint

    def train(self, model: Any, tokenizer: Any, out: Path, checkpoint: str | None) -> TrainedModel:
        self.calls.append(f"train from {checkpoint}")
        assert (out / "run.json").exists()
        self.seed_seen = torch.initial_seed()
        return TrainedModel(
            self.trained, self.main_process, train_loss=0.5, log=[{"loss": 0.5}],
            details={"detector_forward_items": 4},
        )  # fmt: skip


def test_run_training_runs_the_steps_in_order_and_writes_the_run(tmp_path):
    procedure = _Procedure(checkpoint="checkpoint-2")
    trained, results = run_training(
        procedure, _Model(), _Tokenizer(), tmp_path, EvaluationItems(), save_model=True
    )
    assert procedure.calls == ["manifest", "start", "train from checkpoint-2"]
    assert procedure.seed_seen == 7  # seeded just before training
    assert trained is procedure.trained
    assert trained.evaluated  # handed back in eval mode
    assert results.kind == "finetune"
    assert (results.n_examples, results.train_loss, results.log) == (3, 0.5, [{"loss": 0.5}])
    assert results.detector_forward_items == 4  # the procedure's own fields reach the results
    assert (results.before, results.after, results.metric_binning) == (None, None, None)
    assert json.loads((tmp_path / "run.json").read_text())["kind"] == "finetune"
    assert json.loads((tmp_path / "results.json").read_text())["n_train"] == 3
    assert (tmp_path / "model" / "weights").read_text() == "safe=True"
    assert (tmp_path / "model" / "tokenizer").is_file()
    assert not (tmp_path / LOCK_NAME).exists()  # released


def test_run_training_without_save_model_writes_results_only(tmp_path):
    run_training(_Procedure(), _Model(), _Tokenizer(), tmp_path, EvaluationItems(), save_model=False)
    assert (tmp_path / "results.json").is_file()
    assert not (tmp_path / "model").exists()


def test_a_process_other_than_the_main_one_writes_no_results(tmp_path):
    _, results = run_training(
        _Procedure(main_process=False), _Model(), _Tokenizer(), tmp_path, EvaluationItems(), save_model=True
    )
    assert results.main_process is False
    assert not (tmp_path / "results.json").exists()
    assert not (tmp_path / "model").exists()


def test_a_refused_start_writes_nothing_and_trains_nothing(tmp_path):
    procedure = _Procedure(refuse=True)
    with pytest.raises(InputError, match="not this run"):
        run_training(procedure, _Model(), _Tokenizer(), tmp_path / "out", EvaluationItems(), save_model=True)
    assert procedure.calls == ["manifest", "start"]
    assert not (tmp_path / "out").exists()  # the lock's directory, left empty, is removed


def test_a_held_directory_is_refused_before_the_start_check(tmp_path):
    procedure = _Procedure()
    with output_lock(tmp_path, "llmcal align"), pytest.raises(InputError, match="llmcal align"):
        run_training(procedure, _Model(), _Tokenizer(), tmp_path, EvaluationItems(), save_model=True)
    assert procedure.calls == ["manifest"]


def test_evaluation_items_without_items_measure_nothing():
    assert EvaluationItems().row(model=None, tokenizer=None) is None


def test_quiet_trainer_removes_the_bar_and_the_log_printer_only_when_asked():
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    class _Trainer:
        def __init__(self) -> None:
            self.removed: list[type] = []

        def remove_callback(self, callback: type) -> None:
            self.removed.append(callback)

    quiet, shown = _Trainer(), _Trainer()
    quiet_trainer(quiet, show_progress=False)
    quiet_trainer(shown, show_progress=True)
    assert quiet.removed == [PrinterCallback, ProgressCallback]
    assert shown.removed == []
