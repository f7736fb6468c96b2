"""The CLI boundary: a bad output path, an absent device or an OS error is one line on stderr and exit 2.

Every command with ``--out`` checks it before anything heavy (loading items is cheap, a model is not): the
commands below that need a model are given one that does not exist, so a check that came after loading it
would report the model instead. Genuine bugs (any other exception) still propagate with their traceback.
"""

from __future__ import annotations

import errno
import json
import os
import types
from pathlib import Path

import pytest
import typer.main

from llmcal.cli.app import app, main
from llmcal.errors import InputError

# Six predictions and a few resamples: some resamples are degenerate, which is a warning, not the point here.
pytestmark = pytest.mark.filterwarnings("ignore::llmcal.errors.CalibrationWarning")

GOLDEN_EVAL = Path(__file__).parents[1] / "golden" / "previous-version" / "eval"
ITEM = {"id": "a", "question": "What is the capital of France?", "choices": ["Paris", "Lyon"], "answer": 0}
SAMPLE = {
    "doc_id": 0,
    "arguments": {f"gen_args_{i}": {"arg_0": "Q:", "arg_1": f" option{i}"} for i in range(2)},
    "filtered_resps": [["-1.0", "False"], ["-2.0", "False"]],
    "filter": "none",
    "target": "0",
}

# Each command with --out: its arguments but --out ({...} are files the `inputs` fixture writes) and
# whether --out names a directory or a file.
COMMANDS: dict[str, tuple[list[str], str]] = {
    "eval": (["eval", "--model", "{model}", "--data", "{items}"], "dir"),
    "metrics": (["metrics", "{predictions}", "--n-resamples", "5"], "file"),
    "report": (["report", str(GOLDEN_EVAL)], "file"),
    "compare": (["compare", str(GOLDEN_EVAL), str(GOLDEN_EVAL), "--n-resamples", "5"], "dir"),
    "calibrate": (["calibrate", str(GOLDEN_EVAL), "--n-resamples", "5"], "dir"),
    "finetune": (["finetune", "--model", "{model}", "--data", "{items}"], "dir"),
    "align": (["align", "--model", "{model}", "--data", "{items}"], "dir"),
    "probe": (["probe", "--model", "{model}", "--data", "{items}"], "file"),
    "from-lm-eval": (["from-lm-eval", "{samples}", "--n-resamples", "5"], "dir"),
    # An unknown preset: building a world (or the demo) would take minutes before it wrote anything.
    "world build": (["world", "build", "--preset", "no-such-preset"], "dir"),
    "demo": (["demo", "--preset", "no-such-preset", "--real-model", "none"], "dir"),
    # A --doc that is not markdown: refused after --out, before a model loads.
    "study": (["study", "--doc", "notes.txt"], "dir"),
}


@pytest.fixture
def inputs(tmp_path, monkeypatch):
    """Valid input files in a fresh working directory, and a model path that does not exist."""
    monkeypatch.chdir(tmp_path)  # `--out ""` must not write into the repository
    (tmp_path / "items.jsonl").write_text(json.dumps(ITEM) + "\n", encoding="utf-8")
    predictions = [{"probs": [0.8, 0.2], "label": i % 2} for i in range(6)]
    (tmp_path / "preds.jsonl").write_text(
        "".join(json.dumps(p) + "\n" for p in predictions), encoding="utf-8"
    )
    samples = tmp_path / "samples_task_2026-11-23T10-00-00.1.jsonl"
    samples.write_text(
        json.dumps(SAMPLE) + "\n" + json.dumps({**SAMPLE, "doc_id": 1}) + "\n", encoding="utf-8"
    )
    return {
        "model": str(tmp_path / "no-such-model"),
        "items": str(tmp_path / "items.jsonl"),
        "predictions": str(tmp_path / "preds.jsonl"),
        "samples": str(samples),
    }


def command(name: str, inputs: dict[str, str]) -> list[str]:
    arguments, _ = COMMANDS[name]
    return [argument.format(**inputs) for argument in arguments]


def one_line_error(code: int, err: str, *needles: str) -> str:
    """The one line a clear error is, after checking exit code 2, no traceback and what it names."""
    assert code == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def test_every_command_with_out_is_covered():
    found = set()
    root = typer.main.get_command(app)
    for name, sub in root.commands.items():  # type: ignore[attr-defined]
        children = sub.commands.items() if hasattr(sub, "commands") else [("", sub)]
        for child_name, child in children:
            if any(param.name == "out" for param in child.params):
                found.add(f"{name} {child_name}".strip())
    assert found == set(COMMANDS)


@pytest.mark.parametrize("name", COMMANDS)
def test_out_under_a_file_is_refused_first(name, inputs, tmp_path, capsys):
    (tmp_path / "somefile.txt").write_text("not a directory\n")
    target = "somefile.txt/run" if COMMANDS[name][1] == "dir" else "somefile.txt/out.json"
    code = main([*command(name, inputs), "--out", target])
    one_line_error(code, capsys.readouterr().err, f"--out {target}", "somefile.txt is a file")
    assert (tmp_path / "somefile.txt").read_text() == "not a directory\n"


@pytest.mark.parametrize("name", COMMANDS)
def test_an_empty_out_is_refused(name, inputs, tmp_path, capsys):
    before = sorted(path.name for path in tmp_path.iterdir())
    code = main([*command(name, inputs), "--out", ""])
    one_line_error(code, capsys.readouterr().err, "--out is empty")
    assert sorted(path.name for path in tmp_path.iterdir()) == before
    assert main([*command(name, inputs), "--out="]) == 2
    assert "--out is empty" in capsys.readouterr().err


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes through permission bits")
@pytest.mark.parametrize("name", COMMANDS)
def test_out_in_a_directory_without_write_permission(name, inputs, tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    try:
        target = f"{locked}/run" if COMMANDS[name][1] == "dir" else f"{locked}/out.json"
        code = main([*command(name, inputs), "--out", target])
        one_line_error(
            code, capsys.readouterr().err, f"--out {target}", f"no permission to write in {locked}"
        )
        assert list(locked.iterdir()) == []
    finally:
        locked.chmod(0o755)


@pytest.mark.parametrize("name", COMMANDS)
def test_out_where_access_says_no_write_permission(name, inputs, tmp_path, capsys, monkeypatch):
    """The same check for any user, root included: `os.access` answers as for a directory without w."""
    import llmcal.cli.out_paths

    locked = tmp_path / "locked"
    locked.mkdir()
    denied = proxy_os(access=lambda path, mode: Path(path) != locked)
    monkeypatch.setattr(llmcal.cli.out_paths, "os", denied)
    target = f"{locked}/run" if COMMANDS[name][1] == "dir" else f"{locked}/out.json"
    code = main([*command(name, inputs), "--out", target])
    one_line_error(code, capsys.readouterr().err, f"--out {target}", f"no permission to write in {locked}")
    assert list(locked.iterdir()) == []


@pytest.mark.parametrize(("name", "example"), [("report", "report.html"), ("metrics", "metrics.json")])
def test_a_file_out_that_is_an_existing_directory(name, example, inputs, tmp_path, capsys):
    (tmp_path / "results").mkdir()
    code = main([*command(name, inputs), "--out", "results"])
    one_line_error(code, capsys.readouterr().err, "--out results is a directory", f"results/{example}")
    assert list((tmp_path / "results").iterdir()) == []


@pytest.mark.parametrize("name", [name for name, (_, kind) in COMMANDS.items() if kind == "dir"])
def test_a_directory_out_that_is_an_existing_file(name, inputs, tmp_path, capsys):
    (tmp_path / "taken").write_text("keep me\n")
    code = main([*command(name, inputs), "--out", "taken"])
    one_line_error(code, capsys.readouterr().err, "--out taken is a file, not a directory")
    assert (tmp_path / "taken").read_text() == "keep me\n"


def test_a_read_only_place_even_for_root(inputs, tmp_path, capsys):
    """/sys refuses new files even to root; the write fails at the end and is reported in one line."""
    probe = Path("/sys/llmcal-probe")
    try:
        probe.mkdir()
    except OSError:
        pass
    else:
        probe.rmdir()
        pytest.skip("/sys is writable here")
    target = "/sys/llmcal-metrics.json"
    line = one_line_error(
        main([*command("metrics", inputs), "--out", target]), capsys.readouterr().err, target
    )
    assert "not permitted" in line or "ermission denied" in line or "Read-only" in line
    assert not Path(target).exists()


# An OSError from anywhere below the boundary: one line naming the path, what happened, what to do.


def proxy_os(**replaced):
    """The `os` module as llmcal.atomic sees it, with some functions replaced."""
    return types.SimpleNamespace(**{**vars(os), **replaced})


@pytest.mark.parametrize(
    ("number", "strerror"), [(errno.ENOSPC, "No space left on device"), (errno.EIO, "Input/output error")]
)
def test_a_failing_disk_leaves_no_partial_result_and_says_so(
    number, strerror, inputs, tmp_path, capsys, monkeypatch
):
    import llmcal.atomic

    def fsync(fd):
        raise OSError(number, strerror)  # as a full disk reports it: no file name

    monkeypatch.setattr(llmcal.atomic, "os", proxy_os(fsync=fsync))
    (tmp_path / "out").mkdir()
    code = main([*command("metrics", inputs), "--out", "out/metrics.json"])
    line = one_line_error(code, capsys.readouterr().err, "out/metrics.json", strerror, "was not written")
    assert "no partial file" in line
    assert list((tmp_path / "out").iterdir()) == []


def test_a_full_disk_while_a_folder_is_written_names_the_folder(tmp_path):
    from llmcal.atomic import write_directory_atomic
    from llmcal.cli.app import os_error_message

    def fill(folder):
        (folder / "weights.bin").write_bytes(b"half")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError, match="No space") as caught:
        write_directory_atomic(tmp_path / "model", fill)
    message = os_error_message(caught.value)
    assert message.startswith(f"{tmp_path / 'model'}: No space left on device; it was not written")
    assert list(tmp_path.iterdir()) == []  # the half-written folder is gone, as the message says


@pytest.mark.parametrize(
    ("error", "needles"),
    [
        (PermissionError(errno.EACCES, "Permission denied", "/data/preds.jsonl"),
         ["/data/preds.jsonl: Permission denied", "permission"]),
        (IsADirectoryError(errno.EISDIR, "Is a directory", "preds"), ["preds: Is a directory", "file"]),
        (NotADirectoryError(errno.ENOTDIR, "Not a directory", "a/b"),
         ["a/b: Not a directory", "directories"]),
        (FileNotFoundError(errno.ENOENT, "No such file or directory", "gone.jsonl"),
         ["gone.jsonl: No such file or directory"]),
        (OSError(errno.EIO, "Input/output error", "preds.jsonl"),
         ["preds.jsonl: Input/output error", "disk"]),
        (OSError(errno.ENOSPC, "No space left on device"), ["No space left on device", "free"]),
        (OSError("Can't load the tokenizer.\nIf you were trying to load it from the hub, check the name."),
         ["Can't load the tokenizer. If you were trying"]),
    ],
)  # fmt: skip
def test_every_os_error_is_one_line(error, needles, inputs, capsys, monkeypatch):
    def read_predictions(*args, **kwargs):
        raise error

    monkeypatch.setattr("llmcal.cli.metrics_command.read_predictions", read_predictions)
    line = one_line_error(main(command("metrics", inputs)), capsys.readouterr().err, *needles)
    assert "was not written" not in line  # not raised by an atomic writer: no claim about partial files


def test_an_error_with_markup_characters_is_printed_as_it_is(inputs, tmp_path, capsys):
    (tmp_path / "[").mkdir()
    odd = tmp_path / "[/bold] [red]x.jsonl"  # a closing tag no tag opened: rich refuses it as markup
    odd.write_text("{oops\n")
    one_line_error(main(["metrics", str(odd)]), capsys.readouterr().err, "[/bold] [red]x.jsonl")


@pytest.mark.parametrize("error", [RuntimeError("a bug"), KeyError("probs"), AssertionError()])
def test_genuine_bugs_still_raise(error, inputs, monkeypatch):
    def read_predictions(*args, **kwargs):
        raise error

    monkeypatch.setattr("llmcal.cli.metrics_command.read_predictions", read_predictions)
    with pytest.raises(type(error)):
        main(command("metrics", inputs))


# --device: a device this torch cannot use is refused before any model loads.


@pytest.fixture
def cpu_only_torch(monkeypatch):
    torch = pytest.importorskip("torch")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    return torch


@pytest.mark.parametrize("device", ["cuda", "cuda:1", "mps"])
def test_resolve_device_refuses_a_device_this_torch_lacks(device, cpu_only_torch):
    from llmcal.scoring.hf import resolve_device

    with pytest.raises(InputError, match=rf"^`device` {device}: .* available here: cpu\b") as error:
        resolve_device(device)
    assert error.value.parameter == "device"
    assert str(error.value).endswith("Give one of those, or `device=auto`.")
    assert resolve_device("auto").type == "cpu"
    assert resolve_device("cpu").type == "cpu"


def test_resolve_device_refuses_a_gpu_index_past_the_last(monkeypatch):
    torch = pytest.importorskip("torch")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    from llmcal.scoring.hf import resolve_device

    with pytest.raises(
        InputError, match=r"^`device` cuda:2: this machine has 2 CUDA devices.*cuda:0, cuda:1"
    ):
        resolve_device("cuda:2")
    assert resolve_device("cuda:1") == torch.device("cuda:1")


@pytest.mark.parametrize("name", ["eval", "probe"])
@pytest.mark.parametrize("device", ["cuda", "cuda:0", "mps"])
def test_device_the_machine_lacks_is_refused_before_the_model_loads(
    name, device, cpu_only_torch, inputs, tmp_path, capsys
):
    out = "run" if name == "eval" else "known.jsonl"
    code = main([*command(name, inputs), "--out", out, "--device", device])
    err = capsys.readouterr().err
    one_line_error(code, err, f"--device {device}:", "available here: cpu")
    assert "Give one of those, or --device auto." in err  # the library's `device=auto`, as an option
    assert not (tmp_path / out).exists()


@pytest.mark.parametrize(("rank", "message"), [("x", "LOCAL_RANK must be"), ("5", "LOCAL_RANK=5")])
def test_a_bad_local_rank_is_an_input_error(rank, message, monkeypatch):
    torch = pytest.importorskip("torch")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setenv("LOCAL_RANK", rank)
    from llmcal.distributed import Shard, device_for_shard
    from llmcal.scoring.hf import resolve_device

    with pytest.raises(InputError, match=message):
        resolve_device(device_for_shard("cuda", Shard(rank=0, world_size=2)))
