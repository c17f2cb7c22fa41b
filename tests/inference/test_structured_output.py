"""Structured output (a run's response schema): the real `openai` and `anthropic` SDKs against the
wire-compatible fakes, which refuse what the real APIs refuse, and the demo MLX model, which
gets the schema in its prompt."""

from __future__ import annotations

import json
import sys
import time
from decimal import Decimal

import anthropic
import jsonschema_rs
import openai
import pytest
from django.test import Client
from mlx_lm import load

from inference.actions import create_run
from inference.errors import Invalid
from inference.models import GenerationStatus, ModelConfig, Run, RunStatus
from inference.runner import process_run
from inference.structured import response_schema
from tests.conftest import make_dataset
from tests.support.fake_anthropic import FakeAnthropic
from tests.support.fake_openai import FakeOpenAI
from tests.support.fake_structured import INVALID_ANSWER, INVALID_JSON
from tests.support.fake_text import count_words

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("seeded_prices")]

# What a judge asks: strict-valid (every property required, no others; the optional comment
# is nullable instead of left out).
SCHEMA = {
    "type": "object",
    "properties": {
        "reasoning": {"type": "string"},
        "quality": {"type": "integer", "minimum": 1, "maximum": 5},
        "pass": {"type": "string", "enum": ["pass", "fail"]},
        "topics": {"type": "array", "items": {"type": "string", "enum": ["code", "prose"]}},
        "comment": {"type": ["string", "null"]},
    },
    "required": ["reasoning", "quality", "pass", "topics", "comment"],
    "additionalProperties": False,
}
ANSWER = {
    "reasoning": "fake reasoning",
    "quality": 1,
    "pass": "pass",
    "topics": ["code"],
    "comment": "fake text",
}
# Valid JSON schema, but not under OpenAI's strict rules (no additionalProperties: false).
LOOSE = {"type": "object", "properties": {"quality": {"type": "integer"}}, "required": ["quality"]}


class Recording:
    """A fake that keeps every request body it was sent."""

    def validate(self, body):
        self.bodies.append(body)
        super().validate(body)


class RecordingOpenAI(Recording, FakeOpenAI):
    bodies: list


class RecordingAnthropic(Recording, FakeAnthropic):
    bodies: list


@pytest.fixture(autouse=True)
def api_env(monkeypatch, settings):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-test")
    settings.API_MAX_ATTEMPTS = 3


@pytest.fixture
def openai_server():
    server = RecordingOpenAI(api_key="sk-test", retry_after=0.05)
    server.bodies = []
    with server:
        yield server


@pytest.fixture
def anthropic_server():
    server = RecordingAnthropic(api_key="sk-test", retry_after=0.05)
    server.bodies = []
    with server:
        yield server


@pytest.fixture
def start(owner, django_capture_on_commit_callbacks):
    def start(config, n=4, schema=SCHEMA):
        with django_capture_on_commit_callbacks(execute=False):
            return create_run(owner, make_dataset(owner, n).pk, config.pk, response_schema=schema)

    return start


def run_to_end(run) -> None:
    while process_run(run.pk, worker="api-test") is not None:
        pass
    run.refresh_from_db()


def openai_config(server, owner, **fields) -> ModelConfig:
    defaults = dict(
        name="mini",
        backend="openai",
        model="gpt-4o-mini",  # seeded price: $0.15 in, $0.60 out
        base_url=server.base_url,
        max_tokens=64,
        concurrency=2,
        owner=owner,
    )
    return ModelConfig.objects.create(**{**defaults, **fields})


def anthropic_config(server, owner, **fields) -> ModelConfig:
    defaults = dict(
        name="haiku",
        backend="anthropic",
        model="claude-haiku-4-5",  # seeded price: $1 in, $5 out
        base_url=server.url,
        max_tokens=64,
        concurrency=2,
        owner=owner,
    )
    return ModelConfig.objects.create(**{**defaults, **fields})


def fits(text: str) -> bool:
    """Checked by an independent validator, not by the code under test."""
    return jsonschema_rs.is_valid(SCHEMA, json.loads(text))


# The action.


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        ({"type": "object", "properties": {"q": {"type": "integr"}}}, "not a valid JSON schema"),
        ({"type": "array", "items": {"type": "string"}}, 'must describe an object ("type"'),
        (["quality"], "must be a JSON object"),
    ],
)
def test_a_schema_that_is_no_object_schema_is_refused_and_no_run_made(
    owner, openai_server, start, schema, message
):
    config = openai_config(openai_server, owner)
    with pytest.raises(Invalid, match=message.replace("(", r"\(")):
        start(config, schema=schema)
    assert not Run.objects.exists()


def test_the_run_keeps_its_schema_in_order_and_a_run_without_one_is_unchanged(
    owner, openai_server, start
):
    config = openai_config(openai_server, owner)
    run = Run.objects.get(pk=start(config).pk)
    kept = response_schema(run.params)
    # "reasoning" stays first (a model answers in the schema's order), on PostgreSQL too.
    assert kept == SCHEMA and list(kept["properties"]) == list(SCHEMA["properties"])
    assert "response_schema" not in start(config, schema=None).params


# OpenAI-compatible.


def test_openai_gets_a_strict_json_schema_and_the_json_answer_is_stored(
    owner, openai_server, start
):
    run = start(openai_config(openai_server, owner))
    run_to_end(run)
    assert run.status == RunStatus.COMPLETED
    assert run.params["response_schema_via"] == "json_schema"
    assert len(openai_server.bodies) == 4
    for body in openai_server.bodies:
        assert body["response_format"] == {
            "type": "json_schema",
            "json_schema": {"name": "answer", "schema": SCHEMA, "strict": True},
        }
        assert "JSON schema" not in body["messages"][-1]["content"]  # not in the prompt too
    for g in run.generations.all():
        assert json.loads(g.output) == ANSWER and fits(g.output)
        assert g.output_tokens == count_words([g.output]) and g.ttft_s is not None
        expected = (g.prompt_tokens * Decimal("0.15") + g.output_tokens * Decimal("0.60")) / 10**6
        assert g.cost_usd == expected.quantize(Decimal("1e-8"))


def test_a_schema_openai_refuses_as_not_strict_fails_each_item_with_its_message(
    owner, openai_server, start
):
    run = start(openai_config(openai_server, owner), schema=LOOSE)
    run_to_end(run)
    assert run.status == RunStatus.COMPLETED_WITH_ERRORS
    assert len(openai_server.bodies) == 4  # a 400 is not retried
    for g in run.generations.all():
        assert g.status == GenerationStatus.FAILED and g.output == "" and g.cost_usd is None
        assert g.error == (
            "400: Invalid schema for response_format 'answer': In context=(), "
            "'additionalProperties' is required to be supplied and to be false."
        )


def test_openai_refuses_a_strict_schema_that_leaves_a_property_optional(openai_server):
    client = openai.OpenAI(api_key="sk-test", base_url=openai_server.base_url, max_retries=0)
    schema = {**SCHEMA, "required": ["reasoning", "quality"]}
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(
            model="gpt-4o",
            messages=[{"role": "user", "content": "Rate it."}],
            response_format={
                "type": "json_schema",
                "json_schema": {"name": "answer", "schema": schema, "strict": True},
            },
        )
    assert refused.value.body["message"] == (
        "Invalid schema for response_format 'answer': In context=(), 'required' is required to "
        "be supplied and to be an array including every key in properties. Missing 'pass'."
    )


def test_a_server_without_response_format_gets_the_schema_in_the_prompt_and_says_so(
    owner, openai_server, start
):
    openai_server.structured_output = False
    run = start(openai_config(openai_server, owner, concurrency=1), n=3)
    run_to_end(run)
    assert run.status == RunStatus.COMPLETED
    refused, *rest = openai_server.bodies
    assert "response_format" in refused and len(rest) == 3
    for body in rest:
        assert "response_format" not in body
        prompt = body["messages"][-1]["content"]
        assert prompt.startswith("Write a function number")
        instructions = "matching this JSON schema, and nothing else (no prose, no code fence)"
        assert prompt.endswith(f"{instructions}:\n{json.dumps(SCHEMA)}")
    via = run.params["response_schema_via"]
    assert via == (
        "prompt (the server refused response_format: 400: Unrecognized request argument "
        "supplied: response_format)"
    )
    assert all(g.output.startswith("Reply to: Write") for g in run.generations.all())
    page = Client()
    page.force_login(owner)
    assert "the server refused response_format" in page.get(f"/runs/{run.pk}/").content.decode()


def test_an_answer_that_is_no_json_is_stored_as_it_came_for_the_parser_to_judge(
    owner, openai_server, start
):
    openai_server.invalid_answers = True
    run = start(openai_config(openai_server, owner), n=2)
    run_to_end(run)
    for g in run.generations.all():
        assert g.status == GenerationStatus.DONE and g.output == INVALID_JSON
        with pytest.raises(json.JSONDecodeError):
            json.loads(g.output)


def test_an_answer_cut_at_the_token_limit_is_stored_cut_with_finish_length(
    owner, openai_server, start
):
    run = start(openai_config(openai_server, owner, max_tokens=3), n=1)
    run_to_end(run)
    g = run.generations.get()
    assert g.finish_reason == "length" and g.output == '{"reasoning": "fake reasoning",'


# Anthropic.


def test_anthropic_is_forced_to_answer_with_one_tool_and_its_input_is_the_output(
    owner, anthropic_server, start
):
    run = start(anthropic_config(anthropic_server, owner, system_prompt="Be fair."))
    run_to_end(run)
    assert run.status == RunStatus.COMPLETED
    assert run.params["response_schema_via"] == "tool"
    for body in anthropic_server.bodies:
        assert [(t["name"], t["input_schema"]) for t in body["tools"]] == [("answer", SCHEMA)]
        assert body["tool_choice"] == {"type": "tool", "name": "answer"}
    for g in run.generations.select_related("item"):
        assert json.loads(g.output) == ANSWER and fits(g.output)
        assert g.finish_reason == "stop" and g.ttft_s is not None
        assert g.output_tokens == count_words([g.output])
        assert g.prompt_tokens == count_words(["Be fair.", g.item.prompt])
        expected = (g.prompt_tokens * Decimal(1) + g.output_tokens * Decimal(5)) / 10**6
        assert g.cost_usd == expected.quantize(Decimal("1e-8"))


def test_anthropic_in_batch_mode_answers_through_the_tool_too(
    owner, anthropic_server, start, settings
):
    settings.BATCH_POLL_S = 0.2
    anthropic_server.batch_delay = 0.2
    run = start(anthropic_config(anthropic_server, owner, mode="batch"), n=3)
    process_run(run.pk, worker="a")
    time.sleep(0.3)
    run_to_end(run)
    assert run.status == RunStatus.COMPLETED
    assert anthropic_server.batches_created == 1
    assert [json.loads(g.output) for g in run.generations.all()] == [ANSWER] * 3
    assert all(g.provider_batch_id and fits(g.output) for g in run.generations.all())


def test_an_anthropic_tool_input_that_does_not_fit_is_stored_as_it_came(
    owner, anthropic_server, start
):
    anthropic_server.invalid_answers = True
    run = start(anthropic_config(anthropic_server, owner), n=2)
    run_to_end(run)
    for g in run.generations.all():
        assert g.status == GenerationStatus.DONE and json.loads(g.output) == INVALID_ANSWER
        assert not fits(g.output)


@pytest.mark.parametrize(
    ("tools", "tool_choice", "message"),
    [
        (
            [{"name": "answer", "input_schema": {"type": "array"}}],
            {"type": "tool", "name": "answer"},
            "tools.0.custom.input_schema.type: Input should be 'object'",
        ),
        (
            [{"name": "answer", "input_schema": {"type": "object", "required": "all"}}],
            {"type": "tool", "name": "answer"},
            "tools.0.custom.input_schema: JSON schema is invalid",
        ),
        (
            [{"name": "answer", "input_schema": SCHEMA}],
            {"type": "tool", "name": "verdict"},
            "tool_choice: Tool 'verdict' not found in 'tools'",
        ),
    ],
)
def test_anthropic_refuses_a_bad_tool_as_the_api_does(
    anthropic_server, tools, tool_choice, message
):
    client = anthropic.Anthropic(api_key="sk-test", base_url=anthropic_server.url, max_retries=0)
    with pytest.raises(anthropic.BadRequestError) as refused:
        client.messages.create(
            model="claude-haiku-4-5",
            max_tokens=64,
            messages=[{"role": "user", "content": "Rate it."}],
            tools=tools,
            tool_choice=tool_choice,
        )
    assert refused.value.body["error"]["message"].startswith(message)


# MLX: no constrained decoding.


def test_the_demo_model_reads_the_schema_in_its_prompt_and_its_output_is_kept(
    owner, mlx_config, start, monkeypatch
):
    batch_generator = sys.modules["mlx_lm.generate"].BatchGenerator
    prompts: list[list[int]] = []
    insert = batch_generator.insert

    def recording_insert(self, batch, *args, **kwargs):
        prompts.extend(list(p) for p in batch)
        return insert(self, batch, *args, **kwargs)

    monkeypatch.setattr(batch_generator, "insert", recording_insert)
    run = start(mlx_config, n=2)
    run_to_end(run)
    assert run.status == RunStatus.COMPLETED
    assert run.params["response_schema_via"] == "prompt"
    _, tokenizer = load(mlx_config.model)
    texts = sorted(tokenizer.decode(p) for p in prompts)
    assert len(texts) == 2
    for i, text in enumerate(texts):
        assert f"Write a function number {i}." in text
        assert "Answer with one JSON object matching this JSON schema" in text
        assert json.dumps(SCHEMA) in text
    for g in run.generations.all():
        # Whatever it wrote is kept: poor JSON is for the judge's parser to refuse.
        assert g.status == GenerationStatus.DONE and g.output_tokens is not None
