"""The server backend against the in-process one, and against servers that fail or offer less."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from llmcal.errors import InputError, ServerError
from llmcal.scoring.hf import HFBackend
from llmcal.scoring.requests import GenerationRequest, ScoringRequest, unavailable_operations
from llmcal.scoring.server import ServerBackend
from llmcal.scoring.server_client import ClientSettings
from tests.scoring.fake_completions_server import FakeCompletions, Knobs

NO_PAUSE = ClientSettings(first_pause_s=0.0, retries=3, concurrency=3)
URL = "http://fake:8000"
LONG = "The quick brown fox jumps over the lazy dog near the river bank. " * 40  # past the tiny model's 512

SCORING = [
    ScoringRequest(
        "Question: What is the capital of France?\nAnswer:", (" Paris", " Lyon", " Marseille is big")
    ),
    ScoringRequest("", ("Hello world",)),
    ScoringRequest("The quick brown fox ", ("jumps", "sleeps")),
    *[ScoringRequest(f"Item {n}: the king and", (" queen", " the castle")) for n in range(12)],
]
GENERATION = [
    GenerationRequest("Question: What is the capital of France?\nAnswer:", ("\n", ".")),
    GenerationRequest("The quick brown fox", (" the",)),
    GenerationRequest("Mountains rise above the valley; the king and", ("\n",)),
    GenerationRequest("the", ()),
    GenerationRequest(LONG, ("\n",)),
]


@pytest.fixture(scope="module")
def in_process(tiny_model_dir: str) -> HFBackend:
    return HFBackend(tiny_model_dir, device="cpu", dtype="float32")


def fake_server(in_process: HFBackend, **knobs: Any) -> FakeCompletions:
    return FakeCompletions(in_process.model, in_process.tokenizer, "tiny", in_process.name, Knobs(**knobs))


def backend_on(fake: FakeCompletions, **options: Any) -> ServerBackend:
    return ServerBackend(
        "tiny", [URL], transport=fake.transport(), client=options.pop("client", NO_PAUSE), **options
    )


def test_scores_are_the_in_process_backends_to_float_noise(in_process: HFBackend) -> None:
    server = backend_on(fake_server(in_process), prompts_per_request=5)
    greedy = in_process.generate([GenerationRequest("The quick brown fox", ())], max_new_tokens=2)[0]
    requests = [*SCORING, ScoringRequest("The quick brown fox", (greedy.text, " cat"))]
    done: list[int] = []
    remote = server.score(requests, on_progress=done.append)
    local = in_process.score(requests)
    assert sum(done) == len(requests)
    for ours, theirs in zip(remote, local, strict=True):
        for a, b in zip(ours, theirs, strict=True):
            assert a.n_tokens == b.n_tokens
            assert max(abs(x - y) for x, y in zip(a.token_logprobs, b.token_logprobs, strict=True)) < 1e-4
            assert a.is_greedy == b.is_greedy
    assert any(score.is_greedy for scores in remote for score in scores)  # both kinds were compared


def test_a_prompt_past_the_servers_context_is_cut_on_the_left_to_fit_with_its_generated_token(
    in_process: HFBackend,
) -> None:
    fake = fake_server(in_process, max_model_len=128)
    said: list[str] = []
    server = backend_on(fake, on_status=said.append)
    server.score([ScoringRequest(LONG, (" river", " bank of the river"))])
    assert said == [
        "warning: 1 prompt(s) too long for the server's context of 128 tokens were cut on the left, as "
        "lm-evaluation-harness does; their scores see only the end of the prompt."
    ]
    sent = fake.knobs.requests[-1]["body"]["prompt"]
    assert max(len(prompt) for prompt in sent) + 1 == 128  # prompt and the one token generated, no more


def test_generations_are_the_in_process_backends_token_for_token(in_process: HFBackend) -> None:
    server = backend_on(fake_server(in_process), prompts_per_request=2)
    free = in_process.generate(GENERATION, max_new_tokens=12)
    # Stop strings the model will meet: the text of its second and third tokens (inside one, across two).
    decode = in_process.tokenizer.decode
    requests = [
        *GENERATION,
        *(
            GenerationRequest(r.context, (decode(list(g.token_ids[1:3])),))
            for r, g in zip(GENERATION, free, strict=True)
        ),
        *(
            GenerationRequest(r.context, (decode(list(g.token_ids[2:3]))[1:] or "x",))
            for r, g in zip(GENERATION, free, strict=True)
        ),
    ]
    remote = server.generate(requests, max_new_tokens=12)
    local = in_process.generate(requests, max_new_tokens=12)
    for ours, theirs in zip(remote, local, strict=True):
        assert (ours.text, ours.token_ids, ours.n_answer_tokens, ours.stop) == (
            theirs.text,
            theirs.token_ids,
            theirs.n_answer_tokens,
            theirs.stop,
        )
        assert max(abs(x - y) for x, y in zip(ours.token_logprobs, theirs.token_logprobs, strict=True)) < 1e-4
    assert {g.stop for g in remote} >= {"stop", "length"}


def test_greedy_generation_overrides_a_servers_sampling_defaults(in_process: HFBackend) -> None:
    fake = fake_server(in_process)
    backend_on(fake).generate(GENERATION[:1], max_new_tokens=4)
    body = fake.knobs.requests[-1]["body"]
    assert (body["temperature"], body["repetition_penalty"], body["top_p"]) == (0.0, 1.0, 1.0)
    backend_on(fake).score(SCORING[:1])
    scoring = fake.knobs.requests[-1]["body"]
    # The prompt tokens' own log-probabilities, no alternatives (a server caps how many it gives), one token.
    assert (scoring["prompt_logprobs"], scoring["max_tokens"], scoring["temperature"]) == (0, 1, 0.0)
    assert body["include_stop_str_in_output"] is True
    assert body["stop"] == ["\n", "."]


def test_the_manifest_names_the_server_and_fingerprints_the_model_it_reports(in_process: HFBackend) -> None:
    server = backend_on(fake_server(in_process))
    assert server.describe() == {
        "backend": "server",
        "model": "tiny",
        "servers": [URL],
        "server_version": "fake-1",
        "max_model_len": 512,
        "tokenizer": in_process.name,
    }
    fingerprint = server.fingerprint()
    assert fingerprint["served_root"] == in_process.name
    assert "tokenizer.json" in fingerprint["tokenizer_files"]


def test_transient_failures_are_retried_on_the_next_replica(in_process: HFBackend) -> None:
    fake = fake_server(in_process)
    server = ServerBackend(
        "tiny", [URL, "http://replica:8000/v1/"], transport=fake.transport(), client=NO_PAUSE
    )
    fake.knobs.transient_failures = 3
    server.score(SCORING[:2])
    hosts = [request["path"] for request in fake.knobs.requests[-4:]]
    assert hosts == ["/v1/completions"] * 4  # three refused, the fourth answered
    assert server.client.urls == [URL, "http://replica:8000"]


def test_a_server_failing_past_every_retry_is_a_server_error_naming_it(in_process: HFBackend) -> None:
    fake = fake_server(in_process)
    server = backend_on(fake)
    fake.knobs.transient_failures = 10
    with pytest.raises(ServerError, match=r"failed 4 times \(http://fake:8000: HTTP 503: overloaded"):
        server.score(SCORING[:1])


def test_a_server_that_dies_midway_is_a_server_error(in_process: HFBackend) -> None:
    fake = fake_server(in_process)
    server = backend_on(fake, prompts_per_request=1)
    fake.knobs.die_after = fake.completions_answered + 3
    with pytest.raises(
        ServerError, match=r"ConnectError: the server (died|is dead).*the same command resumes"
    ):
        server.score(SCORING)


def test_an_unknown_model_name_lists_what_the_server_serves(in_process: HFBackend) -> None:
    fake = fake_server(in_process)
    with pytest.raises(
        InputError, match="`model` 'llama' is not served by http://fake:8000; it serves 'tiny'"
    ):
        ServerBackend("llama", [URL], transport=fake.transport(), client=NO_PAUSE, tokenizer=in_process.name)


def test_another_tokenizer_is_refused_before_anything_is_scored(in_process: HFBackend) -> None:
    fake = fake_server(in_process, token_offset=1)
    with pytest.raises(
        InputError, match="tokenises a probe text otherwise than the local tokenizer"
    ) as error:
        backend_on(fake)
    assert error.value.parameter == "tokenizer"


@pytest.mark.parametrize(
    ("knobs", "unavailable", "reason"),
    [
        ({"chat_only": True}, {"score", "generate", "sample"}, "no /v1/completions endpoint"),
        ({"ignore_prompt_logprobs": True}, {"score"}, "no prompt log-probabilities"),
        ({"reject_prompt_logprobs": True}, {"score"}, "Unrecognized field: prompt_logprobs"),
        ({"no_token_ids": True}, {"generate", "sample"}, "does not say which tokens it generated"),
    ],
)
def test_a_server_offering_less_says_what_it_cannot_do(
    in_process: HFBackend, knobs: dict[str, Any], unavailable: set[str], reason: str
) -> None:
    server = backend_on(fake_server(in_process, **knobs))
    found = unavailable_operations(server)
    assert set(found) == unavailable
    assert any(reason in text for text in found.values())
    operation = sorted(unavailable)[0]
    run = (
        (lambda: server.score(SCORING[:1]))
        if operation == "score"
        else (lambda: server.generate(GENERATION[:1], max_new_tokens=2))
    )
    with pytest.raises(InputError, match=f"^http://fake:8000 cannot {operation}: ") as error:
        run()
    assert error.value.parameter == "servers"


@pytest.mark.parametrize(
    ("urls", "complaint"),
    [
        ([], "`servers` is empty"),
        (["localhost:8000"], "is not a server URL"),
        (["http://"], "is not a server"),
    ],
)
def test_server_urls_are_checked(urls: list[str], complaint: str) -> None:
    with pytest.raises(InputError, match=complaint):
        ServerBackend("tiny", urls, client=NO_PAUSE)


def test_nothing_listening_is_a_server_error_naming_the_url(unused_port: int) -> None:
    with pytest.raises(ServerError, match=rf"http://127.0.0.1:{unused_port}: ConnectError"):
        ServerBackend(
            "tiny", [f"http://127.0.0.1:{unused_port}"], client=ClientSettings(first_pause_s=0, retries=1)
        )


def test_a_request_the_server_refuses_is_an_input_error_with_its_words_not_retried(
    in_process: HFBackend,
) -> None:
    fake = fake_server(in_process)
    server = backend_on(fake)
    fake.knobs.max_model_len = 8  # the server now refuses prompts the backend was told would fit
    sent = len(fake.knobs.requests)
    with pytest.raises(
        InputError, match=r"refused the request \(HTTP 400\): This model's maximum context length"
    ):
        server.score(SCORING[:1])
    assert len(fake.knobs.requests) == sent + 1  # once: a retry cannot mend it


def test_a_server_that_does_not_say_its_context_is_given_the_tokenizers(in_process: HFBackend) -> None:
    server = backend_on(fake_server(in_process, says_max_model_len=False))
    assert server.served.max_model_len == in_process.tokenizer.model_max_length == 512
    unbounded = fake_server(in_process, says_max_model_len=False)
    with_huge_limit = type(in_process.tokenizer).from_pretrained(in_process.name, model_max_length=10**30)
    assert (
        backend_on(unbounded, tokenizer=with_huge_limit).served.max_model_len == 2048
    )  # transformers' "none"


@pytest.mark.parametrize(
    ("field", "value", "complaint"),
    [
        ("timeout_s", 0.0, "`timeout_s` must be positive; got 0.0."),
        ("retries", -1, "`retries` must be 0 or more; got -1."),
        ("concurrency", 0, "`concurrency` must be at least 1; got 0."),
    ],
)
def test_client_settings_out_of_range_are_refused_naming_the_field(
    field: str, value: Any, complaint: str
) -> None:
    with pytest.raises(InputError) as error:
        ClientSettings(**{field: value})
    assert str(error.value) == complaint
    assert error.value.parameter == field


def test_the_smallest_client_settings_are_allowed() -> None:
    assert ClientSettings(timeout_s=0.001, retries=0, concurrency=1).retries == 0


def test_prompts_go_in_requests_of_at_most_the_size_asked_a_requests_options_together(
    in_process: HFBackend,
) -> None:
    fake = fake_server(in_process)
    server = backend_on(fake, prompts_per_request=5)
    options = [3, 2, 2, 3, 1, 4, 7, 1]
    requests = [
        ScoringRequest(f"Item {n}:", tuple(f" option {k}" for k in range(count)))
        for n, count in enumerate(options)
    ]
    sent = len(fake.knobs.requests)
    server.score(requests)
    sizes = [len(request["body"]["prompt"]) for request in fake.knobs.requests[sent:]]
    assert sorted(sizes) == sorted([5, 5, 5, 7, 1])  # 3+2, 2+3, 1+4, a request of 7 alone, then 1


def test_each_call_reports_only_the_prompts_it_cut(in_process: HFBackend) -> None:
    said: list[str] = []
    server = backend_on(fake_server(in_process, max_model_len=128), on_status=said.append)
    for _ in range(2):
        server.score([ScoringRequest(LONG, (" river",))])
    server.generate([GenerationRequest(LONG, ("\n",))], max_new_tokens=2)
    assert [message.split(" prompt(s)")[0] for message in said] == ["warning: 1"] * 3


def test_a_tokenizer_given_as_an_object_without_a_folder_is_not_fingerprinted(in_process: HFBackend) -> None:
    server = backend_on(fake_server(in_process))
    server.tokenizer_source = None
    assert server.fingerprint() == {"served_root": in_process.name}


@pytest.mark.parametrize(
    ("break_it", "complaint"),
    [
        ("short", "the server returned {short} prompt log-probabilities for a prompt of {tokens} tokens"),
        ("other_ids", "the server's prompt log-probabilities lack token"),
        ("nulls", "the server's prompt log-probabilities lack token"),
        ("none", "the server returned no prompt log-probabilities for a prompt of {tokens} tokens"),
    ],
)
def test_prompt_log_probabilities_that_do_not_cover_the_prompt_are_refused(
    in_process: HFBackend, break_it: str, complaint: str
) -> None:
    fake = fake_server(in_process)
    server = backend_on(fake)
    fake.knobs.token_offset = 1 if break_it == "other_ids" else 0
    fake.knobs.short_prompt_logprobs = break_it == "short"
    fake.knobs.null_prompt_logprobs = break_it == "nulls"
    fake.knobs.ignore_prompt_logprobs = break_it == "none"
    request = ScoringRequest("Hello there", (" friend",), "item-7")
    encoded = server.encoder.encode([request])[0]
    tokens = len(encoded.context) + len(encoded.continuations[0])
    with pytest.raises(InputError, match=complaint.format(short=tokens - 1, tokens=tokens)) as error:
        server.score([request])
    assert str(error.value).startswith("item-7: ")
    assert error.value.parameter == "servers"


@pytest.mark.parametrize(
    ("declared", "limit"),
    [(2, 2), (10**7 - 1, 10**7 - 1), (10**7, 2048), (1, 2048), ("512", 2048), (None, 2048)],
)
def test_a_tokenizers_limit_is_believed_only_when_it_is_a_plausible_context(
    declared: Any, limit: int
) -> None:
    from types import SimpleNamespace

    from llmcal.scoring.server_probe import _tokenizer_limit

    tokenizer = SimpleNamespace() if declared is None else SimpleNamespace(model_max_length=declared)
    assert _tokenizer_limit(tokenizer) == limit


def test_a_generation_the_server_ended_at_its_own_end_of_text_token_ends_there(in_process: HFBackend) -> None:
    prompts = [request.context for request in GENERATION]
    free = in_process.generate([GenerationRequest(prompt, ()) for prompt in prompts], max_new_tokens=6)
    # A prompt whose answer has a token first seen after its first: the server's end-of-turn token, say.
    prompt, local, end = next(
        (prompt, g, j) for prompt, g in zip(prompts, free, strict=True)
        for j in range(1, len(g.token_ids)) if g.token_ids[j] not in g.token_ids[:j]
    )  # fmt: skip
    fake = fake_server(in_process, extra_eos=local.token_ids[end])
    served = backend_on(fake).generate([GenerationRequest(prompt, ())], max_new_tokens=6)[0]
    assert served.token_ids == local.token_ids[: end + 1]
    assert served.token_logprobs == pytest.approx(local.token_logprobs[: end + 1], abs=1e-4)
    assert (served.text, served.n_answer_tokens, served.stop) == (
        in_process.tokenizer.decode(list(local.token_ids[:end])),
        end,
        "eos",
    )


def test_generation_requests_carry_greedy_fields_and_report_progress_per_prompt(
    in_process: HFBackend,
) -> None:
    fake = fake_server(in_process)
    server = backend_on(fake, prompts_per_request=2)
    sent = len(fake.knobs.requests)
    done: list[int] = []
    requests = [GenerationRequest(f"Item {n}: the king and", ("\n",) if n < 3 else (".",)) for n in range(5)]
    server.generate(requests, max_new_tokens=3, on_progress=done.append)
    bodies = [request["body"] for request in fake.knobs.requests[sent:]]
    assert sorted(len(body["prompt"]) for body in bodies) == [1, 2, 2]  # 3 prompts stop at "\n", 2 at "."
    assert sorted(done) == [1, 2, 2]
    for body in bodies:
        assert (body["logprobs"], body["max_tokens"], body["skip_special_tokens"]) == (0, 3, False)
        assert body["return_token_ids"] is True
        assert body["return_tokens_as_token_ids"] is True


@pytest.mark.parametrize(
    "answer",
    [
        {"token_ids": [5, 6], "logprobs": {"token_logprobs": [-1.0]}},
        {"token_ids": [5, 6], "logprobs": None},
        {"token_ids": [], "logprobs": {"token_logprobs": []}},
    ],
)
def test_a_generation_without_an_id_and_a_log_probability_per_token_is_refused(
    in_process: HFBackend, answer: dict[str, Any]
) -> None:
    server = backend_on(fake_server(in_process))
    with pytest.raises(
        InputError, match=r"^item-3: the server's answer lacks the generated tokens' ids"
    ) as error:
        server._generation({"index": 0, "finish_reason": "length", **answer}, ("\n",), "item-3")
    assert error.value.parameter == "servers"


def test_an_answer_with_the_wrong_number_of_choices_is_refused(in_process: HFBackend) -> None:
    fake = fake_server(in_process)
    server = backend_on(fake)
    original = fake._completions
    fake._completions = lambda body: (200, {"choices": original(body)[1]["choices"][:-1]})  # type: ignore[method-assign]
    with pytest.raises(InputError, match=r"fake:8000 answered 2 choices where 3 were asked") as error:
        server.score(SCORING[:1])
    assert error.value.parameter == "servers"
    fake._completions = lambda body: (200, {"object": "text_completion"})  # type: ignore[method-assign]
    with pytest.raises(InputError, match="answered no choices where 1 were asked"):
        server.generate(GENERATION[:1], max_new_tokens=2)


def test_replicas_serving_different_contexts_are_refused(in_process: HFBackend) -> None:
    fakes = {"a": fake_server(in_process), "b": fake_server(in_process, max_model_len=256)}
    transports = {host: fake.transport() for host, fake in fakes.items()}
    routed = httpx.MockTransport(lambda request: transports[request.url.host].handle_request(request))
    with pytest.raises(
        InputError, match=r"http://a:1 and http://b:1 serve different models .* 512 tokens vs .* 256"
    ):
        ServerBackend("tiny", ["http://a:1", "http://b:1"], transport=routed, client=NO_PAUSE)
    same = ServerBackend("tiny", ["http://a:1", "http://a:1"], transport=routed, client=NO_PAUSE)
    assert same.served.max_model_len == 512


def test_a_server_that_hides_its_tokens_is_used_with_a_warning(in_process: HFBackend) -> None:
    said: list[str] = []
    server = backend_on(
        fake_server(in_process, no_token_ids=True, ignore_prompt_logprobs=True), on_status=said.append
    )
    assert said == [
        "warning: the server does not report its prompt's token ids, so its tokenizer could not be checked "
        "against the local one; make sure `tokenizer` is the served model's."
    ]
    assert set(server.unavailable_operations()) == {"score", "generate", "sample"}


def test_a_probe_answered_without_choices_is_refused(in_process: HFBackend) -> None:
    fake = fake_server(in_process)
    fake._completions = lambda body: (200, {"object": "text_completion", "choices": []})  # type: ignore[method-assign]
    with pytest.raises(
        InputError, match=r"^http://fake:8000/v1/completions answered without 'choices'\.$"
    ) as error:
        backend_on(fake)
    assert error.value.parameter == "servers"


def test_end_of_text_tokens_are_the_tokenizers_and_its_folders_generation_configs(tmp_path: Any) -> None:
    from types import SimpleNamespace

    from llmcal.scoring.server import _eos_ids

    (tmp_path / "generation_config.json").write_text('{"eos_token_id": [5, 6]}')
    tokenizer = SimpleNamespace(eos_token_id=7)
    assert _eos_ids(tokenizer, str(tmp_path)) == {5, 6, 7}
    (tmp_path / "generation_config.json").write_text('{"eos_token_id": 9}')
    assert _eos_ids(tokenizer, str(tmp_path)) == {7, 9}
    assert _eos_ids(tokenizer, None) == {7}
    assert _eos_ids(tokenizer, str(tmp_path / "no-config-here")) == {7}
