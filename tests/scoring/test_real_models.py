"""The two packaged real LLMs, scored by llmcal, against a plain transformers forward pass and lm-eval.

Each model is de-quantized once into llmcal's cache (``$LLMCAL_CACHE_DIR`` or ``~/.cache/llmcal``):
about a minute for SmolLM2 and two for Gemma 3 on 2 CPU cores, seconds afterwards. Marked ``real_model``,
so the default run leaves them out; CI installs both packages and runs them as a step of their own, where
a missing package fails instead of skipping.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from llmcal.cli.app import main
from llmcal.confidence.extraction import ExtractionSettings, extract_records
from llmcal.errors import InputError
from llmcal.scoring.hf import HFBackend
from llmcal.scoring.models import PACKAGED_MODELS
from llmcal.scoring.requests import ScoringRequest
from llmcal.tasks.prompts import option_pairs
from llmcal.tasks.schema import MCItem
from llmcal.tasks.selection import EvalTask, select_tasks

from ..lm_eval_tasks import run_lm_eval, write_local_task

pytestmark = pytest.mark.real_model

# Items per relation of the built-in fact tasks: every relation, options of 1 to several tokens.
_PER_RELATION = 6
# |llmcal - lm-eval| per log-likelihood: 1e-4, or 1e-5 of the value for long, unlikely continuations. Both
# normalise with torch's float32 log_softmax, so what is left is float32 noise of forward passes over other
# batch shapes: measured at most 1.6e-5 on SmolLM2 and 4.6e-5 on Gemma 3 (262k-token vocabulary). With a
# logsumexp normaliser instead, Gemma's gap reached 1.7e-4 on another CPU (lm-eval's own values are up to
# 2.1e-4 from a float64 forward pass there), which is why the scorer reads log_softmax.
_LM_EVAL_TOLERANCE = {"abs": 1e-4, "rel": 1e-5}


@pytest.fixture(scope="module", params=sorted(PACKAGED_MODELS))
def real_backend(request: pytest.FixtureRequest) -> HFBackend:
    model = PACKAGED_MODELS[request.param]
    if not model.is_installed():
        if os.environ.get("CI"):
            pytest.fail(f"CI must install the packaged models; run: {model.install}")
        pytest.skip(f"{model.name} is not installed ({model.install})")
    return HFBackend(model.name, device="cpu", dtype="float32", batch_size=8)


@pytest.fixture(scope="module")
def fact_task() -> EvalTask:
    (task,) = select_tasks(["facts"])
    return task


@pytest.fixture(scope="module")
def fact_items(fact_task: EvalTask) -> list[MCItem]:
    task = fact_task
    relations: dict[str, list[MCItem]] = {}
    for item in task.items:
        relations.setdefault(str(item.subject), []).append(item)
    return [item for items in relations.values() for item in items[:_PER_RELATION]]


def test_sum_loglikelihoods_equal_a_plain_forward_pass(
    real_backend: HFBackend, fact_task: EvalTask, fact_items: list[MCItem]
) -> None:
    requests = [
        ScoringRequest(context, (continuation,), key=item.id)
        for item in fact_items
        for context, continuation in option_pairs(item, format="cloze", style=fact_task.style)
    ]
    scores = real_backend.score(requests)
    encoded = real_backend.encoder.encode(requests)
    worst = 0.0
    for request, (score,) in zip(encoded, scores, strict=True):
        (continuation,) = request.continuations
        expected = _assert_equals_a_plain_forward_pass(real_backend, request.context, continuation, score)
        worst = max(worst, abs(score.total - float(expected.sum())))
    print(f"{real_backend.name}: {len(requests)} pairs, largest difference {worst:.2e}")


# Several options per context, of one to several tokens: what the packed row and the cache are for.
_MULTI_OPTION_REQUESTS = [
    ScoringRequest(
        f"Question: What is the capital of {country}?\nAnswer:",
        (" Andorra la Vella", " Paris", " Ouagadougou", " Ulaanbaatar", " Port Moresby"),
        key=country,
    )
    for country in ("France", "Mongolia", "Burkina Faso", "Papua New Guinea")
] + [
    ScoringRequest("The currency of Japan is the", (" yen", " euro", " Swiss franc", " Belarusian ruble")),
    ScoringRequest("", (" Paris", " The capital of France")),  # an empty context: the BOS token alone
]


@pytest.mark.parametrize("strategy", ["packed", "cached", "padded"])
def test_every_strategy_equals_a_plain_forward_pass(real_backend: HFBackend, strategy: str) -> None:
    scored = _scored_with(real_backend, strategy, _MULTI_OPTION_REQUESTS)
    if scored is None:
        return
    encoded = real_backend.encoder.encode(_MULTI_OPTION_REQUESTS)
    for request, scores in zip(encoded, scored, strict=True):
        for continuation, score in zip(request.continuations, scores, strict=True):
            _assert_equals_a_plain_forward_pass(real_backend, request.context, continuation, score)


def _scored_with(backend: HFBackend, strategy: str, requests: list[ScoringRequest]) -> list[list[Any]] | None:
    """``requests`` scored under ``strategy``; ``None`` where Gemma 3 refuses ``cached`` (as it must)."""
    backend.strategy = strategy  # type: ignore[assignment]
    try:
        if strategy == "cached" and backend.name == "gemma-3-270m":  # 512-token sliding layers
            with pytest.raises(InputError, match="strategy 'cached' cannot be exact on gemma3_text"):
                backend.resolved_strategy()
            return None
        return backend.score(requests)
    finally:
        backend.strategy = "auto"


def _long_fact_requests(backend: HFBackend, fact_task: EvalTask, n_tokens: int) -> list[ScoringRequest]:
    """Two fact questions after solved fact questions of more than ``n_tokens`` tokens (a k-shot prompt)."""
    solved, questions = [], []
    for item in fact_task.items:
        context, continuation = option_pairs(item, format="cloze", style=fact_task.style)[item.answer]
        if len(backend.tokenizer.encode("".join(solved))) <= n_tokens:
            solved.append(f"{context}{continuation}\n\n")
        elif len(questions) < 2:
            questions.append(item)
    shots = "".join(solved)
    return [
        ScoringRequest(shots + pairs[0][0], tuple(continuation for _, continuation in pairs), key=item.id)
        for item in questions
        for pairs in [option_pairs(item, format="cloze", style=fact_task.style)]
    ]


def test_prompts_past_the_attention_window_score_like_a_plain_forward_and_lm_eval(
    real_backend: HFBackend, fact_task: EvalTask, tmp_path: Path
) -> None:
    """Gemma 3's sliding layers see 512 tokens: a 900-token k-shot prompt, every strategy and lm-eval.

    Before the windows were applied on packed rows, " Paris" after such a prompt scored -10.17 packed
    against -1.08 in a plain forward, and ``cached`` crashed.
    """
    requests = _long_fact_requests(real_backend, fact_task, 900)
    encoded = real_backend.encoder.encode(requests)
    assert min(len(request.context) for request in encoded) > 900
    window = getattr(real_backend.model.config, "sliding_window", None)
    sliding = window is not None and "sliding_attention" in (real_backend.model.config.layer_types or [])
    assert sliding == (real_backend.name == "gemma-3-270m")
    plain: list[float] = []
    for strategy in ("auto", "packed", "cached", "padded"):
        scored = _scored_with(real_backend, strategy, requests)
        if scored is None:
            continue
        values = []
        for request, scores in zip(encoded, scored, strict=True):
            for continuation, score in zip(request.continuations, scores, strict=True):
                expected = _assert_equals_a_plain_forward_pass(
                    real_backend, request.context, continuation, score
                )
                values.extend(score.token_logprobs)
                if strategy == "auto":
                    plain.extend(expected.tolist())
        gap = np.abs(np.subtract(values, plain)).max()
        print(f"{real_backend.name} {strategy}: largest |llmcal - plain| {gap:.2e}")
    # Greedy generation past the window: the tokens of ``generate``, the log-probabilities of a plain forward.
    from llmcal.scoring.requests import GenerationRequest

    prompts = [request.context for request in requests]
    generations = real_backend.generate([GenerationRequest(p, ()) for p in prompts], max_new_tokens=6)
    for request, generation in zip(encoded, generations, strict=True):
        ids = torch.tensor([request.context])
        with torch.inference_mode():
            reference = real_backend.model.generate(
                ids, attention_mask=torch.ones_like(ids), do_sample=False, max_new_tokens=6,
                pad_token_id=real_backend.pad_id,
            )[0, ids.shape[1] :].tolist()  # fmt: skip
        assert list(generation.token_ids) == reference
        tokens = list(generation.token_ids)
        _assert_equals_a_plain_forward_pass(real_backend, request.context, tokens, _Logprobs(generation))
    # lm-evaluation-harness on the same requests: the question is the whole k-shot prompt.
    records = [
        {
            "question": _question_of(request.context, fact_task.style),
            "choices": [continuation.removeprefix(" ") for continuation in request.continuations],
            "answer": 0,
        }
        for request in requests
    ]
    ours = [score.total for scores in real_backend.score(requests) for score in scores]
    theirs = _lm_eval_loglikelihoods(real_backend, records, fact_task.style, tmp_path)
    print(f"{real_backend.name}: largest |llmcal - lm-eval| {np.abs(np.subtract(ours, theirs)).max():.2e}")
    assert ours == pytest.approx(theirs, **_LM_EVAL_TOLERANCE)


class _Logprobs:
    """A generation's token log-probabilities in the shape the plain-forward check reads."""

    def __init__(self, generation: Any) -> None:
        self.token_logprobs = list(generation.token_logprobs)
        self.is_greedy = True  # greedy decoding picks the argmax at every step


def _question_of(context: str, style: str) -> str:
    """The ``question`` field whose lm-eval prompt (tests/lm_eval_tasks.DOC_TO_TEXT) is ``context``."""
    if style == "qa":
        assert context.startswith("Question: ")
        assert context.endswith("\nAnswer:")
        return context.removeprefix("Question: ").removesuffix("\nAnswer:")
    return context


def _lm_eval_loglikelihoods(
    backend: HFBackend, records: list[dict[str, Any]], style: str, folder: Path
) -> list[float]:
    """Real lm-eval's per-option log-likelihoods of ``records`` (a local task), in order."""
    write_local_task(folder, "llmcal_long", records, style=style)
    output = run_lm_eval(str(backend.source.path), folder, "llmcal_long", batch_size=1)
    (samples,) = sorted(output.rglob("samples_llmcal_long_*.jsonl"))
    return [
        float(response[0][0])
        for line in samples.read_text().splitlines()
        for response in json.loads(line)["resps"]
    ]


@pytest.fixture(scope="module")
def lm_eval_run(
    real_backend: HFBackend,
    fact_task: EvalTask,
    fact_items: list[MCItem],
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, Path]:
    """Real lm-eval's command line with --log_samples, on the de-quantized folder llmcal loads."""
    folder = tmp_path_factory.mktemp("lm-eval-facts")
    records = [item.to_record() for item in fact_items]
    write_local_task(folder, "llmcal_facts", records, style=fact_task.style)
    output = run_lm_eval(str(real_backend.source.path), folder, "llmcal_facts", batch_size=8)
    (samples,) = sorted(output.rglob("samples_llmcal_facts_*.jsonl"))
    return folder / "llmcal_facts.jsonl", samples


def test_sum_loglikelihoods_equal_lm_evals_on_a_fact_task(
    real_backend: HFBackend, fact_task: EvalTask, fact_items: list[MCItem], lm_eval_run: tuple[Path, Path]
) -> None:
    _, samples = lm_eval_run
    settings = ExtractionSettings(methods=("sum",))
    records = extract_records(fact_items, real_backend, settings, task="facts", style=fact_task.style)
    ours: list[float] = []
    theirs: list[float] = []
    for line, item, record in zip(samples.read_text().splitlines(), fact_items, records, strict=True):
        sample = json.loads(line)
        # The samples file keeps each request's arguments as {"gen_args_<k>": {"arg_0": context, ...}}.
        arguments = [sample["arguments"][f"gen_args_{k}"] for k in range(len(sample["arguments"]))]
        pairs = [(argument["arg_0"], argument["arg_1"]) for argument in arguments]
        assert pairs == option_pairs(item, format="cloze", style=fact_task.style)
        theirs.extend(float(response[0][0]) for response in sample["resps"])
        ours.extend(option.total for option in record.options or ())
    assert len(ours) == len(theirs) == sum(len(item.choices) for item in fact_items)
    gap = np.abs(np.array(ours) - np.array(theirs))
    print(f"largest |llmcal - lm-eval|: {gap.max():.2e}, relative {(gap / np.abs(theirs)).max():.2e}")
    assert ours == pytest.approx(theirs, **_LM_EVAL_TOLERANCE)


def test_from_lm_eval_gives_the_ece_of_llmcal_eval(
    real_backend: HFBackend, fact_task: EvalTask, lm_eval_run: tuple[Path, Path], tmp_path: Path
) -> None:
    items_file, samples = lm_eval_run
    imported, evaluated = tmp_path / "imported", tmp_path / "evaluated"
    assert main(["from-lm-eval", str(samples), "--out", str(imported), "--n-resamples", "20"]) == 0
    argv = ["eval", "--model", real_backend.name, "--data", str(items_file), "--methods", "sum",
            "--cloze-style", fact_task.style,
            "--device", "cpu", "--out", str(evaluated), "--n-resamples", "20"]  # fmt: skip
    assert main(argv) == 0
    (theirs,) = json.loads((imported / "results.json").read_text())["tasks"].values()
    (ours,) = json.loads((evaluated / "results.json").read_text())["tasks"].values()
    for metric in ("accuracy", "ece", "sce", "brier"):
        assert ours["methods"]["sum"]["metrics"][metric]["value"] == pytest.approx(
            theirs["methods"]["sum"]["metrics"][metric]["value"], abs=1e-6
        ), metric
    gguf = json.loads((evaluated / "run.json").read_text())["model"]["gguf"]
    assert gguf == real_backend.describe()["gguf"]
    assert (
        gguf["quantization"] == {"smollm2-135m-instruct": "Q4_1", "gemma-3-270m": "Q4_K_M"}[real_backend.name]
    )
    assert Path(gguf["file"]).is_file()


# The plain forward pass's values of each (model, context, continuation) already computed: the test past
# the attention window checks four strategies against the same references.
_PLAIN: dict[tuple[str, tuple[int, ...], tuple[int, ...]], tuple[torch.Tensor, bool]] = {}


def _plain_forward_pass(
    backend: HFBackend, context: list[int], continuation: list[int]
) -> tuple[torch.Tensor, bool]:
    """The continuation's log-probabilities in one unbatched forward pass, and whether each is the argmax.

    Only the positions that predict the continuation go through the output layer (``logits_to_keep``):
    the same values, without Gemma's 262k-wide logits for every prompt token.
    """
    key = (backend.name, tuple(context), tuple(continuation))
    if key not in _PLAIN:
        tokens = torch.tensor([context + continuation])
        with torch.inference_mode():
            logits = backend.model(input_ids=tokens, logits_to_keep=len(continuation) + 1).logits[0, :-1]
        logprobs = logits.float().log_softmax(dim=-1)
        wanted = torch.tensor(continuation)
        expected = logprobs.gather(1, wanted.unsqueeze(1)).squeeze(1)
        _PLAIN[key] = (expected, bool((logprobs.argmax(dim=-1) == wanted).all()))
    return _PLAIN[key]


def _assert_equals_a_plain_forward_pass(
    backend: HFBackend, context: list[int], continuation: list[int], score: Any
) -> torch.Tensor:
    """Checks ``score`` against one unbatched forward pass over context + continuation; returns its values."""
    expected, greedy = _plain_forward_pass(backend, context, continuation)
    assert score.token_logprobs == pytest.approx(expected.tolist(), abs=1e-4), (context, continuation)
    assert score.is_greedy == greedy
    return expected


def test_generations_equal_transformers_greedy_generate_on_fact_questions(real_backend: HFBackend) -> None:
    """Batched greedy answers with the KV cache and finished rows dropped: the tokens of ``generate``."""
    from llmcal.scoring.requests import GenerationRequest
    from llmcal.tasks.prompts import open_prompt

    (task,) = select_tasks(["facts_open"])
    by_relation: dict[str, list[Any]] = {}
    for item in task.items:
        by_relation.setdefault(str(item.subject), []).append(item)
    items = [item for group in by_relation.values() for item in group[:4]]
    prompts = [open_prompt(item, style=task.style) for item in items]
    generations = real_backend.generate([GenerationRequest(p, task.stop) for p in prompts], max_new_tokens=12)
    for prompt, generation in zip(prompts, generations, strict=True):
        encoded = real_backend.tokenizer(prompt, return_tensors="pt")
        n_tokens = len(generation.token_ids)
        with torch.inference_mode():
            output = real_backend.model.generate(
                **encoded, do_sample=False, max_new_tokens=n_tokens, min_new_tokens=n_tokens,
                pad_token_id=real_backend.pad_id,
            )  # fmt: skip
        assert list(generation.token_ids) == output[0, encoded["input_ids"].shape[1] :].tolist(), prompt
