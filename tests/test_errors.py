"""Library errors about a parameter name it as Python callers spell it, and say which one it is."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import get_type_hints

import pytest

from llmcal.errors import InputError
from llmcal.tasks.prompts import fewshot_examples
from llmcal.tasks.schema import MCItem
from llmcal.tasks.selection import select_tasks


def _raised(call, *args, **kwargs) -> InputError:
    with pytest.raises(InputError) as error:
        call(*args, **kwargs)
    return error.value


def test_select_tasks_names_its_parameters():
    error = _raised(select_tasks)
    assert (str(error), error.parameter) == (
        "Pass exactly one of `names=NAME[,NAME...]` or `data=FILE`.",
        "names",
    )
    error = _raised(select_tasks, ["a", "b"], dataset_path="copy")
    assert error.parameter == "dataset_path"
    assert str(error).startswith("`dataset_path` overrides one task's dataset location")


def test_too_few_fewshot_examples_name_num_fewshot():
    items = [MCItem(f"q{i}", "Which?", ("a", "b"), 0) for i in range(3)]
    error = _raised(fewshot_examples, items[0], items, k=5, seed=0, format="cloze")
    assert error.parameter == "num_fewshot"
    assert str(error) == "`num_fewshot` 5 needs at least 5 other items; the few-shot pool has 2."


def test_a_demo_out_that_is_a_file_names_out(tmp_path: Path):
    from llmcal.demo import run_demo

    (tmp_path / "file").write_text("x")
    error = _raised(run_demo, tmp_path / "file")
    assert (str(error), error.parameter) == (
        f"`out` {tmp_path / 'file'} exists and is not a directory.",
        "out",
    )


# The backend's settings: device, dtype, batch size and strategy are checked where they are made.


def test_backend_settings_name_the_bad_field():
    pytest.importorskip("torch")
    from llmcal.scoring.backend_settings import BackendSettings

    error = _raised(BackendSettings, batch_size=0)
    assert (str(error), error.parameter) == (
        "`batch_size` must be a positive integer or 'auto'; got 0.",
        "batch_size",
    )
    error = _raised(BackendSettings, strategy="fast")  # type: ignore[arg-type]
    assert error.parameter == "strategy"
    assert str(error) == "strategy must be one of auto, packed, cached, padded; got 'fast'."


def test_resolving_a_bad_dtype_or_device_names_it():
    torch = pytest.importorskip("torch")
    from llmcal.scoring.backend_settings import resolve_device, resolve_dtype

    error = _raised(resolve_dtype, "float8", torch.device("cpu"))
    assert error.parameter == "dtype"
    assert str(error) == "`dtype` must be one of auto, float32, float16, bfloat16; got 'float8'."
    error = _raised(resolve_device, "nonsense")
    assert error.parameter == "device"
    assert str(error).startswith("`device` 'nonsense' is not a torch device")


def test_the_keyword_options_are_the_settings_fields():
    pytest.importorskip("torch")
    from llmcal.scoring.backend_settings import BackendOptions, BackendSettings

    assert list(get_type_hints(BackendOptions)) == [field.name for field in fields(BackendSettings)]


def test_a_backend_takes_settings_or_keywords_and_keywords_win(tiny_model_dir):
    from llmcal.scoring.backend_settings import BackendSettings
    from llmcal.scoring.hf import HFBackend

    by_keywords = HFBackend(tiny_model_dir, device="cpu", dtype="float32", batch_size=3, max_length=40)
    by_settings = HFBackend(tiny_model_dir, BackendSettings("cpu", "float32", 3, 40))
    overridden = HFBackend(tiny_model_dir, BackendSettings("cpu", "float16", 3, 40), dtype="float32")
    assert by_keywords.settings == by_settings.settings == overridden.settings
    assert (by_settings.batch_size, by_settings.max_length, str(by_settings.dtype)) == (
        3,
        40,
        "torch.float32",
    )
    assert by_keywords.describe() == by_settings.describe() == overridden.describe()
