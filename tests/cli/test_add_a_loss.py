"""Adding a loss takes one module and one registry line: the CLI then offers it, its options, and runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

# The one file: a focal-style loss (Lin et al. 2017, restricted to the options), its settings dataclass and
# its plug-in. Light at import: torch is imported inside the loss function.
FOCAL_MODULE = '''
"""A focal loss over the options: one module, registered by one line."""

from dataclasses import dataclass

from llmcal.finetune.hyperparameters import hyperparameter
from llmcal.finetune.loss_registry import LossPlugin


@dataclass(frozen=True)
class FocalConfig:
    gamma: float = hyperparameter(1.0, help="Focal exponent: down-weights easy items.", min=0.0)


def focal_loss(inputs, config, epoch_state):
    import torch

    from llmcal.finetune.losses import gold_nll, option_log_probs

    gold = option_log_probs(inputs.scores(), inputs.mask).gather(1, inputs.labels.long().unsqueeze(1))
    weight = (1.0 - gold.squeeze(1).exp()) ** config.gamma
    return torch.mean(weight * gold_nll(inputs))


FOCAL = LossPlugin(focal_loss, FocalConfig, summary="focal loss over the options")
'''

# The one line, run before the command line is imported, then the CLI's own entry point.
LAUNCHER = textwrap.dedent("""
    import sys

    from llmcal.finetune.loss_registry import LOSSES

    LOSSES.add_lazy("focal", "focal_loss:FOCAL")

    from llmcal.cli.app import main

    code = main(sys.argv[1:])
    print("torch imported:", "torch" in sys.modules, file=sys.stderr)
    sys.exit(code)
""")

ITEMS = [
    {"id": f"q{i}", "question": f"Question {i} about the river?", "choices": ["Paris", "blue", "the king"],
     "answer": i % 3}
    for i in range(8)
]  # fmt: skip


def _llmcal_with_focal(tmp_path, *args: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "focal_loss.py").write_text(FOCAL_MODULE, encoding="utf-8")
    launcher = tmp_path / "launch.py"
    launcher.write_text(LAUNCHER, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    env["COLUMNS"] = "100"
    return subprocess.run([sys.executable, str(launcher), *args], capture_output=True, text=True, env=env,
                          timeout=300, check=False)  # fmt: skip


def test_a_registered_loss_is_listed_with_its_option_without_importing_torch(tmp_path):
    finished = _llmcal_with_focal(tmp_path, "finetune", "--help")
    assert finished.returncode == 0, finished.stderr
    help_text = " ".join(finished.stdout.split())  # the help wraps; compare words
    assert "focal: focal loss over the options." in help_text
    assert (
        "--gamma <float range> Focal exponent: down-weights easy items. [default: 1.0; x>=0.0]" in help_text
    )
    assert "--smoothing" in help_text  # the built-in losses' options are still there
    assert "torch imported: False" in finished.stderr


@pytest.mark.slow
def test_a_registered_loss_trains_and_its_hyperparameters_are_recorded(tiny_model_dir, tmp_path):
    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps(item) + "\n" for item in ITEMS), encoding="utf-8")
    out = tmp_path / "run"
    finished = _llmcal_with_focal(tmp_path, "finetune", "--model", tiny_model_dir, "--data", str(data),
                                  "--out", str(out), "--method", "focal", "--gamma", "2", "--epochs", "1",
                                  "--batch-size", "4")  # fmt: skip
    assert finished.returncode == 0, finished.stderr[-3000:]
    settings = json.loads((out / "results.json").read_text())["settings"]
    assert settings["method"] == "focal"
    assert settings["loss"]["gamma"] == 2.0
    assert settings["loss"]["smoothing"] == 0.1  # every registered loss's hyperparameters, as before
    refused_out = tmp_path / "refused"
    refused = _llmcal_with_focal(tmp_path, "finetune", "--model", tiny_model_dir, "--data", str(data),
                                 "--out", str(refused_out), "--method", "focal", "--gamma", "-1")  # fmt: skip
    assert refused.returncode == 2  # the field's bound, enforced by the command line
    assert "--gamma" in refused.stderr
    assert not refused_out.exists()
