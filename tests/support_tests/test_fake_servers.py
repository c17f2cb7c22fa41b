"""The fake Anthropic and OpenAI servers, driven by the real SDKs. No database needed."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import anthropic
import httpx2
import openai
import pytest

from tests.support.fake_anthropic import FakeAnthropic
from tests.support.fake_openai import FakeOpenAI
from tests.support.fake_text import complete

ROOT = Path(__file__).resolve().parents[2]
MODEL = "claude-haiku-4-5"


def ask(prompt: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": prompt}]


@pytest.fixture
def server() -> Iterator[FakeAnthropic]:
    with FakeAnthropic(batch_delay=0.2, retry_after=0.1) as fake:
        yield fake


@pytest.fixture
def claude(server: FakeAnthropic) -> anthropic.Anthropic:
    return anthropic.Anthropic(api_key="test-key", base_url=server.url)


@pytest.fixture
def openai_server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(retry_after=0.1, cached_tokens=2) as fake:
        yield fake


@pytest.fixture
def gpt(openai_server: FakeOpenAI) -> openai.OpenAI:
    return openai.OpenAI(api_key="test-key", base_url=openai_server.base_url)


# Anthropic: messages.


def test_it_streams_text_and_usage(server: FakeAnthropic, claude: anthropic.Anthropic) -> None:
    server.cache_read_tokens = 7
    with claude.messages.stream(
        model=MODEL, max_tokens=100, system="Be brief.", messages=ask("name three colours")
    ) as stream:
        text = "".join(stream.text_stream)
        message = stream.get_final_message()

    assert text == complete("name three colours").text
    assert text.startswith("Reply to: name three colours ")
    assert message.stop_reason == "end_turn"
    assert message.usage.input_tokens == 5  # words of the system prompt and the message
    assert message.usage.output_tokens == len(text.split())
    assert message.usage.cache_read_input_tokens == 7
    assert server.ledger.completed == {"name three colours": 1}


def test_it_sends_events_in_the_api_order(claude: anthropic.Anthropic) -> None:
    with claude.messages.with_streaming_response.create(
        model=MODEL, max_tokens=3, messages=ask("hello"), stream=True
    ) as response:
        names = [sse.event for sse in anthropic.Stream.raw_events(response.http_response)]

    assert names == [
        "message_start",
        "content_block_start",
        "ping",
        *["content_block_delta"] * 3,
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]


def test_create_with_stream_gives_typed_events(claude: anthropic.Anthropic) -> None:
    events = list(
        claude.messages.create(model=MODEL, max_tokens=4, messages=ask("a b c d e"), stream=True)
    )

    start, delta = events[0], events[-2]
    assert start.type == "message_start" and start.message.usage.output_tokens == 1
    assert delta.type == "message_delta"
    assert delta.delta.stop_reason == "max_tokens"
    assert delta.usage.output_tokens == 4
    texts = [e.delta.text for e in events if e.type == "content_block_delta"]
    assert "".join(texts) == "Reply to: a b"


def test_it_honours_max_tokens_and_stop_sequences(claude: anthropic.Anthropic) -> None:
    short = claude.messages.create(model=MODEL, max_tokens=2, messages=ask("x y z"))
    stopped = claude.messages.create(
        model=MODEL, max_tokens=50, messages=ask("one two three"), stop_sequences=["three"]
    )

    assert (short.content[0].text, short.stop_reason) == ("Reply to:", "max_tokens")
    assert stopped.content[0].text == "Reply to: one two "
    assert (stopped.stop_reason, stopped.stop_sequence) == ("stop_sequence", "three")


def test_it_rejects_a_wrong_key(server: FakeAnthropic) -> None:
    client = anthropic.Anthropic(api_key="wrong", base_url=server.url, max_retries=0)

    with pytest.raises(anthropic.AuthenticationError) as caught:
        client.messages.create(model=MODEL, max_tokens=5, messages=ask("hi"))

    assert caught.value.type == "authentication_error"
    assert caught.value.api_message == "invalid x-api-key"


def test_it_rejects_bad_params_with_a_message(
    server: FakeAnthropic, claude: anthropic.Anthropic
) -> None:
    # anthropic 2.x's create() has no temperature/top_p/top_k: they go in extra_body.
    hot = {"temperature": 1.5}
    with pytest.raises(anthropic.BadRequestError) as too_hot:
        claude.messages.create(model=MODEL, max_tokens=5, messages=ask("hi"), extra_body=hot)
    server.no_sampling_models = {MODEL}
    with pytest.raises(anthropic.BadRequestError) as unsupported:
        claude.messages.create(
            model=MODEL, max_tokens=5, messages=ask("hi"), extra_body={"top_p": 0.9}
        )
    with pytest.raises(anthropic.NotFoundError):
        claude.messages.create(model="claude-nonesuch", max_tokens=5, messages=ask("hi"))

    assert too_hot.value.api_message == "temperature: range: 0..1"
    assert unsupported.value.api_message == f"top_p: not supported by the model {MODEL}"


# Anthropic: faults.


def test_the_sdk_retries_a_429_after_its_retry_after(
    server: FakeAnthropic, claude: anthropic.Anthropic
) -> None:
    server.faults.set_script(["429", "ok"])

    message = claude.messages.create(model=MODEL, max_tokens=5, messages=ask("retry me"))

    refused, answered = server.ledger.records
    assert (refused.status, answered.status) == (429, 200)
    assert (refused.sdk_retry, answered.sdk_retry) == (0, 1)
    # retry-after is 0.1 s; without it the SDK would back off 0.375-0.5 s.
    assert 0.1 <= answered.started - refused.finished < 0.35
    assert message.content[0].text.startswith("Reply to: retry me")
    assert server.ledger.completed == {"retry me": 1}


def test_a_529_raises_overloaded_error(server: FakeAnthropic) -> None:
    client = anthropic.Anthropic(api_key="test-key", base_url=server.url, max_retries=0)
    server.faults.set_script(["529"])

    with pytest.raises(anthropic.OverloadedError):
        client.messages.create(model=MODEL, max_tokens=5, messages=ask("hi"))


def test_a_dropped_stream_raises_from_iteration(
    server: FakeAnthropic, claude: anthropic.Anthropic
) -> None:
    server.faults.set_script(["drop"])
    received: list[str] = []

    # The SDK lets the transport's error through, not wrapped in an anthropic error.
    with (
        pytest.raises(httpx2.RemoteProtocolError),
        claude.messages.stream(model=MODEL, max_tokens=50, messages=ask("cut me")) as stream,
    ):
        received.extend(stream.text_stream)

    assert received == ["Reply", " to:"]  # drop_after=2 deltas
    assert server.ledger.records[0].outcome == "dropped"
    assert server.ledger.completed == {}


def test_an_error_event_in_a_stream_raises(
    server: FakeAnthropic, claude: anthropic.Anthropic
) -> None:
    server.faults.set_script(["stream_error"])

    with (
        pytest.raises(anthropic.APIStatusError) as caught,
        claude.messages.stream(model=MODEL, max_tokens=50, messages=ask("hi")) as stream,
    ):
        stream.until_done()

    # Not an OverloadedError: the HTTP status of a broken stream is 200.
    assert (caught.value.status_code, caught.value.type) == (200, "overloaded_error")


def test_faults_target_prompts_with_the_marker(server: FakeAnthropic) -> None:
    client = anthropic.Anthropic(api_key="test-key", base_url=server.url, max_retries=0)
    server.faults.configure(rate_429=1.0, marker="POISON")

    client.messages.create(model=MODEL, max_tokens=5, messages=ask("fine prompt"))
    with pytest.raises(anthropic.RateLimitError) as caught:
        client.messages.create(model=MODEL, max_tokens=5, messages=ask("a POISON prompt"))

    assert caught.value.response.headers["retry-after"] == "0.1"


def test_the_ledger_sees_concurrent_requests(
    server: FakeAnthropic, claude: anthropic.Anthropic
) -> None:
    server.faults.latency = 0.3
    prompts = [f"item {i}" for i in range(4)]

    with ThreadPoolExecutor(4) as pool:
        list(
            pool.map(
                lambda p: claude.messages.create(model=MODEL, max_tokens=3, messages=ask(p)),
                prompts,
            )
        )

    assert server.ledger.max_in_flight == 4
    assert server.ledger.completed == dict.fromkeys(prompts, 1)


# Anthropic: message batches.


def batch_requests(n: int) -> list[dict]:
    params = {"model": MODEL, "max_tokens": 10}
    requests = [
        {"custom_id": f"item-{i}", "params": {**params, "messages": ask(f"prompt {i}")}}
        for i in range(n)
    ]
    bad = {**params, "temperature": 3.0, "messages": ask("too hot")}
    return [*requests, {"custom_id": "bad", "params": bad}]


def test_batches_round_trip(server: FakeAnthropic, claude: anthropic.Anthropic) -> None:
    batch = claude.messages.batches.create(requests=batch_requests(8))
    assert (batch.processing_status, batch.request_counts.processing) == ("in_progress", 9)
    assert batch.results_url is None

    time.sleep(0.25)
    ended = claude.messages.batches.retrieve(batch.id)
    results = {r.custom_id: r.result for r in claude.messages.batches.results(batch.id)}

    assert ended.processing_status == "ended"
    assert (ended.request_counts.succeeded, ended.request_counts.errored) == (8, 1)
    assert results["item-3"].type == "succeeded"
    assert results["item-3"].message.content[0].text.startswith("Reply to: prompt 3 ")
    assert results["bad"].type == "errored"
    assert results["bad"].error.error.message == "temperature: range: 0..1"
    assert server.batches[batch.id].custom_ids != [f"item-{i}" for i in range(8)] + ["bad"]
    assert server.batches_created == 1


def test_batches_cancel_and_list(server: FakeAnthropic, claude: anthropic.Anthropic) -> None:
    first = claude.messages.batches.create(requests=batch_requests(2))
    second = claude.messages.batches.create(requests=batch_requests(2))

    canceling = claude.messages.batches.cancel(second.id)
    canceled = claude.messages.batches.retrieve(second.id)
    listed = [b.id for b in claude.messages.batches.list(limit=1)]

    assert canceling.processing_status == "canceling"
    assert canceled.processing_status == "ended"
    assert canceled.request_counts.canceled == 3
    assert listed == [second.id, first.id]  # newest first, over two pages


# The command line.


def test_it_runs_as_a_standalone_process() -> None:
    command = [sys.executable, "-m", "tests.support.fake_anthropic", "--port", "0"]
    command += ["--script", "429", "--retry-after", "0.05"]
    with subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True) as process:
        try:
            url = process.stdout.readline().split(" listening on ")[1].strip()
            client = anthropic.Anthropic(api_key="test-key", base_url=url)
            message = client.messages.create(model=MODEL, max_tokens=3, messages=ask("hi"))
            stats = httpx2.get(f"{url}/_fake/stats").json()
        finally:
            process.terminate()

    assert message.content[0].text == "Reply to: hi"
    assert stats["statuses"] == {"200": 1, "429": 1}
    assert stats["completed"] == {"hi": 1}


# OpenAI.


def test_openai_streams_text_and_usage(openai_server: FakeOpenAI, gpt: openai.OpenAI) -> None:
    chunks = list(
        gpt.chat.completions.create(
            model="gpt-4o-mini",
            messages=ask("list two fruits"),
            max_completion_tokens=5,
            stream=True,
            stream_options={"include_usage": True},
        )
    )

    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Reply to: list two fruits"
    assert chunks[-2].choices[0].finish_reason == "length"
    assert chunks[-1].choices == []
    usage = chunks[-1].usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (5, 5, 10)
    assert usage.prompt_tokens_details.cached_tokens == 2
    assert all(c.usage is None for c in chunks[:-1])
    assert openai_server.ledger.completed == {"list two fruits": 1}


def test_openai_answers_without_streaming(gpt: openai.OpenAI) -> None:
    completion = gpt.chat.completions.create(
        model="gpt-4o-mini", messages=ask("one two"), stop="two"
    )

    assert completion.choices[0].message.content == "Reply to: one "
    assert completion.choices[0].finish_reason == "stop"
    assert "gpt-4o-mini" in [m.id for m in gpt.models.list()]


def test_openai_rejects_a_wrong_key(openai_server: FakeOpenAI) -> None:
    client = openai.OpenAI(api_key="sk-wrong-key", base_url=openai_server.base_url)

    with pytest.raises(openai.AuthenticationError) as caught:
        client.chat.completions.create(model="gpt-4o-mini", messages=ask("hi"))

    assert caught.value.code == "invalid_api_key"


def test_openai_retries_a_429_then_fails_on_503(
    openai_server: FakeOpenAI, gpt: openai.OpenAI
) -> None:
    openai_server.faults.set_script(["429", "ok", "503"])

    gpt.chat.completions.create(model="gpt-4o-mini", messages=ask("hi"))
    with pytest.raises(openai.InternalServerError):
        gpt.with_options(max_retries=0).chat.completions.create(
            model="gpt-4o-mini", messages=ask("hi")
        )

    assert [r.status for r in openai_server.ledger.records] == [429, 200, 503]


def test_openai_wraps_a_dropped_stream(openai_server: FakeOpenAI, gpt: openai.OpenAI) -> None:
    openai_server.faults.set_script(["drop"])
    stream = gpt.chat.completions.create(model="gpt-4o-mini", messages=ask("hi"), stream=True)

    with pytest.raises(openai.APIConnectionError):
        list(stream)


# What the real APIs refuse, the fakes refuse: a client that sends it fails here first.


@pytest.mark.parametrize("model", ["gpt-5-mini", "o3", "o4-mini-2025-04-16"])
def test_openai_reasoning_models_refuse_max_tokens_as_the_api_does(
    gpt: openai.OpenAI, model: str
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        gpt.chat.completions.create(model=model, messages=ask("hi"), max_tokens=5)
    answer = gpt.chat.completions.create(
        model=model, messages=ask("hi"), max_completion_tokens=5, temperature=1
    )

    assert caught.value.body == {
        "message": "Unsupported parameter: 'max_tokens' is not supported with this model. "
        "Use 'max_completion_tokens' instead.",
        "type": "invalid_request_error",
        "param": "max_tokens",
        "code": "unsupported_parameter",
    }
    assert (answer.choices[0].finish_reason, answer.usage.completion_tokens) == ("length", 5)


def test_openai_reasoning_models_refuse_sampling_and_stop(gpt: openai.OpenAI) -> None:
    def refusal(**options) -> dict:
        with pytest.raises(openai.BadRequestError) as caught:
            gpt.chat.completions.create(model="gpt-5", messages=ask("hi"), **options)
        return caught.value.body

    assert refusal(temperature=0.7) == {
        "message": "Unsupported value: 'temperature' does not support 0.7 with this model. "
        "Only the default (1) value is supported.",
        "type": "invalid_request_error",
        "param": "temperature",
        "code": "unsupported_value",
    }
    assert refusal(top_p=0.9)["message"] == (
        "Unsupported parameter: 'top_p' is not supported with this model."
    )
    assert (refusal(stop=["x"])["param"], refusal(stop="x")["code"]) == (
        "stop",
        "unsupported_parameter",
    )
    # The same settings are fine for a model that is not a reasoning model.
    gpt.chat.completions.create(
        model="gpt-4o", messages=ask("hi"), max_tokens=5, temperature=0.7, top_p=0.9, stop="x"
    )


def test_openai_refuses_an_argument_it_does_not_know(gpt: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as unknown:
        gpt.chat.completions.create(model="gpt-4o", messages=ask("hi"), extra_body={"top_k": 5})
    with pytest.raises(openai.BadRequestError) as not_here:
        gpt.chat.completions.create(model="gpt-4o", messages=ask("hi"), reasoning_effort="low")
    gpt.chat.completions.create(model="gpt-5-nano", messages=ask("hi"), reasoning_effort="low")

    assert unknown.value.body == {
        "message": "Unrecognized request argument supplied: top_k",
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }
    assert not_here.value.message.endswith(
        "Unrecognized request argument supplied: reasoning_effort"
    )


@pytest.mark.parametrize(
    "headers",
    [
        {"x-api-key": "test-key"},  # Anthropic's header: OpenAI reads only Authorization
        {"authorization": "test-key"},  # no Bearer scheme
        {"authorization": "Basic dGVzdC1rZXk6"},
    ],
)
def test_openai_takes_the_key_only_as_a_bearer_token(
    openai_server: FakeOpenAI, headers: dict[str, str]
) -> None:
    body = {"model": "gpt-4o", "messages": ask("hi")}
    url = f"{openai_server.base_url}/chat/completions"

    refused = httpx2.post(url, json=body, headers=headers)
    accepted = httpx2.post(url, json=body, headers={"authorization": "Bearer test-key"})

    assert refused.status_code == 401
    error = refused.json()["error"]
    assert error["message"].startswith("You didn't provide an API key.")
    assert (error["type"], error["code"]) == ("invalid_request_error", None)
    assert accepted.status_code == 200


def test_anthropic_refuses_requests_the_api_refuses(server: FakeAnthropic) -> None:
    url = f"{server.url}/v1/messages"
    body = {"model": MODEL, "max_tokens": 5, "messages": ask("hi")}
    version = {"anthropic-version": "2023-06-01"}

    def answer(headers: dict[str, str], json: dict = body) -> tuple[int, str]:
        response = httpx2.post(url, json=json, headers=headers)
        return response.status_code, response.json().get("error", {}).get("message", "")

    # The documented header, and the bearer token that the SDK (2.x) sends.
    assert answer({"x-api-key": "test-key", **version})[0] == 200
    assert answer({"authorization": "Bearer test-key", **version})[0] == 200
    assert answer(version) == (401, "x-api-key header is required")
    assert answer({"authorization": "test-key", **version}) == (
        401,
        "x-api-key header is required",
    )
    assert answer({"x-api-key": "wrong", **version}) == (401, "invalid x-api-key")
    assert answer({"x-api-key": "test-key"}) == (400, "anthropic-version: header is required")
    key = {"x-api-key": "test-key", **version}
    no_limit = {k: v for k, v in body.items() if k != "max_tokens"}
    assert answer(key, no_limit) == (400, "max_tokens: Field required")
    assert answer(key, {**body, "n": 2}) == (400, "n: Extra inputs are not permitted")
