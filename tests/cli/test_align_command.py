"""`llmcal align`: bad options are refused before anything is loaded."""

from __future__ import annotations

import json

from llmcal.cli.app import main


def test_align_refuses_an_unknown_method_as_the_option_before_loading_anything(tmp_path, capsys):
    prefs = tmp_path / "prefs.jsonl"
    prefs.write_text(json.dumps({"prompt": "The sky is", "chosen": " blue", "rejected": " bank"}) + "\n")
    argv = [
        "align",
        "--model",
        str(tmp_path / "no-model"),
        "--data",
        str(prefs),
        "--out",
        str(tmp_path / "o"),
    ]
    assert main([*argv, "--method", "ppo"]) == 2
    assert capsys.readouterr().err == "error: --method must be one of dpo, ipo; got 'ppo'.\n"
    assert not (tmp_path / "o").exists()
