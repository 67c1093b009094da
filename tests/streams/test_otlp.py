"""OpenTelemetry spans, made with the real SDK and encoded with its OTLP encoders, into validated telemetry events:
the GenAI conventions and the OpenLLMetry, OpenInference and LiteLLM attribute sets, errors, evaluations, stages
from traces split over several messages, and ``inferwatch replay`` over an OTLP/JSON file."""
from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from inferwatch.streams import cli
from inferwatch.streams.otlp.convert import OtlpConverter
from inferwatch.streams.schema import decode_message
from tests.streams.otel_sdk import ENCODINGS, NS, T0, Recorder, encode

STAGES = ["retrieval", "prompt", "inference", "postprocess", "delivery"]
CHAT = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o"}
ROOT = Path(__file__).resolve().parents[2]


def validated(events: list[dict]) -> tuple[list[dict], list]:
    """Through the schema, as the telemetry agent and replay do."""
    return decode_message(orjson.dumps(events)) if events else ([], [])


def convert(messages: list[bytes], converter: OtlpConverter | None = None) -> tuple[list[dict], OtlpConverter]:
    converter = converter or OtlpConverter(STAGES)
    events: list[dict] = []
    for raw in messages:
        converted, rejections = converter.handle(raw)
        assert rejections == []
        events += converted
    valid, rejected = validated(events)
    assert rejected == [], [r.reason for r in rejected]
    return valid, converter


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_a_genai_call_span_becomes_one_event_with_ids_resource_tokens_and_duration(encoding):
    app = Recorder(service="support-bot", environment="staging")
    span = app.span("chat gpt-4o", 0, 1.25, **CHAT, **{"gen_ai.usage.input_tokens": 120, "gen_ai.usage.output_tokens": 40,
                    "gen_ai.response.finish_reasons": ("stop",), "app.tenant.id": "acme", "app.route": "/answer",
                    "app.variant": "canary", "app.cost.usd": 0.0031})
    [event], _ = convert([encode(app.take(), encoding)])
    context = span.get_span_context()
    assert event["event.id"] == f"{context.span_id:016x}" and event["trace_id"] == f"{context.trace_id:032x}"
    assert event["time_unix_nano"] == T0 and event["gen_ai.client.operation.duration"] == 1.25
    assert (event["service.name"], event["deployment.environment.name"]) == ("support-bot", "staging")
    assert (event["gen_ai.provider.name"], event["gen_ai.request.model"], event["gen_ai.operation.name"]) == (
        "openai", "gpt-4o", "chat")
    assert (event["gen_ai.usage.input_tokens"], event["gen_ai.usage.output_tokens"]) == (120, 40)
    assert event["gen_ai.response.finish_reasons"] == ["stop"] and event["error.type"] is None
    assert (event["app.tenant.id"], event["app.route"], event["app.variant"], event["app.cost.usd"]) == (
        "acme", "/answer", "canary", 0.0031)


# Attribute names as each project's own constants spell them (OpenLLMetry: opentelemetry-semantic-conventions-ai
# SpanAttributes; OpenInference: openinference-semantic-conventions; LiteLLM: litellm/integrations/opentelemetry.py).
INSTRUMENTATIONS = {
    "genai-conventions": ({**CHAT, "gen_ai.usage.input_tokens": 120, "gen_ai.usage.output_tokens": 40},
                          ("openai", "gpt-4o", "chat", 120, 40, None)),
    "genai-legacy-system": ({"gen_ai.operation.name": "chat", "gen_ai.system": "anthropic",
                             "gen_ai.request.model": "claude-sonnet-4", "gen_ai.usage.input_tokens": 80,
                             "gen_ai.usage.output_tokens": 20}, ("anthropic", "claude-sonnet-4", "chat", 80, 20, None)),
    "openllmetry": ({"llm.request.type": "chat", "gen_ai.system": "openai", "gen_ai.request.model": "gpt-4o-mini",
                     "gen_ai.response.model": "gpt-4o-mini-2024-07-18", "gen_ai.usage.prompt_tokens": 50,
                     "gen_ai.usage.completion_tokens": 10, "llm.usage.total_tokens": 60, "llm.is_streaming": False,
                     "gen_ai.prompt.0.role": "user", "gen_ai.prompt.0.content": "my secret question"},
                    ("openai", "gpt-4o-mini", "chat", 50, 10, None)),
    "openllmetry-completion": ({"llm.request.type": "completion", "gen_ai.system": "cohere",
                                "gen_ai.request.model": "command-r", "llm.usage.prompt_tokens": 7,
                                "llm.usage.completion_tokens": 3}, ("cohere", "command-r", "text_completion", 7, 3, None)),
    "openinference": ({"openinference.span.kind": "LLM", "llm.provider": "azure", "llm.system": "openai",
                       "llm.model_name": "gpt-4o", "llm.token_count.prompt": 200, "llm.token_count.completion": 50,
                       "llm.token_count.total": 250, "llm.cost.total": 0.0012, "input.value": "my secret question",
                       "llm.input_messages.0.message.content": "my secret question"},
                      ("azure", "gpt-4o", "chat", 200, 50, 0.0012)),
    "litellm": ({"gen_ai.request.model": "claude-3-5-sonnet", "llm.request.type": "acompletion",
                 "gen_ai.system": "anthropic", "llm.is_streaming": "False", "gen_ai.response.id": "msg_01",
                 "gen_ai.response.model": "claude-3-5-sonnet-20241022", "gen_ai.usage.total_tokens": 90,
                 "gen_ai.usage.output_tokens": 30, "gen_ai.usage.input_tokens": 60, "gen_ai.operation.name": "acompletion",
                 "gen_ai.response.finish_reasons": '["stop"]', "gen_ai.cost.total_cost": 0.002,
                 "metadata.user_api_key_team_id": "team-a", "gen_ai.input.messages": '[{"role": "user"}]'},
                ("anthropic", "claude-3-5-sonnet", "chat", 60, 30, 0.002)),
}


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("name", INSTRUMENTATIONS)
def test_each_instrumentations_attribute_set_is_read(name, encoding):
    attributes, (provider, model, operation, tokens_in, tokens_out, cost) = INSTRUMENTATIONS[name]
    app = Recorder()
    app.span("llm call", 0, 0.8, **attributes)
    [event], _ = convert([encode(app.take(), encoding)])
    assert (event["gen_ai.provider.name"], event["gen_ai.request.model"], event["gen_ai.operation.name"]) == (
        provider, model, operation)
    assert (event["gen_ai.usage.input_tokens"], event["gen_ai.usage.output_tokens"]) == (tokens_in, tokens_out)
    assert event.get("app.cost.usd") == cost
    assert "secret" not in orjson.dumps(event).decode(), "message content is opt-in: never copied from spans"


def test_errors_come_from_error_type_the_recorded_exception_or_the_status():
    app = Recorder()
    app.span("ok", 0, 1, **CHAT)
    app.span("named", 1, 2, **CHAT, **{"error.type": "rate_limited"})
    with_exception = app.start("raised", 2, **CHAT)
    app.fail(with_exception, TimeoutError("upstream"))
    with_exception.end(end_time=T0 + 3 * NS)
    bare = app.start("status only", 3, **CHAT)
    app.fail(bare)
    bare.end(end_time=T0 + 4 * NS)
    events, _ = convert([encode(app.take(), "otlp_proto")])
    assert [e["error.type"] for e in sorted(events, key=lambda e: e["time_unix_nano"])] == [
        None, "rate_limited", "TimeoutError", "_OTHER"]


def test_spans_that_are_not_genai_calls_are_counted_and_ignored():
    app = Recorder()
    request = app.start("GET /answer", 0, **{"http.request.method": "GET"})
    app.span("SELECT users", 0.1, 0.2, parent=request, **{"db.system.name": "postgresql"})
    app.span("invoke_agent helper", 0.2, 0.3, parent=request,
             **{"gen_ai.operation.name": "invoke_agent", "gen_ai.provider.name": "openai"})
    request.end(end_time=T0 + NS)
    events, converter = convert([encode(app.take(), "otlp_json")])
    assert events == [] and converter.stats["other_spans"] == 3 and converter.stats["call_spans"] == 0


def test_genai_evaluation_span_events_become_evaluation_events_of_the_judged_call():
    app = Recorder()
    call = app.start("chat", 0, **CHAT, **{"app.tenant.id": "acme"})
    call.add_event("gen_ai.evaluation.result", {"gen_ai.evaluation.name": "relevance",
                                                "gen_ai.evaluation.score.value": 0.42,
                                                "gen_ai.evaluation.score.label": "low"}, timestamp=T0 + 2 * NS)
    call.end(end_time=T0 + NS)
    events, _ = convert([encode(app.take(), "otlp_json")])
    [evaluation] = [e for e in events if e["event.kind"] == "evaluation"]
    assert evaluation["gen_ai.evaluation.name"] == "relevance" and evaluation["gen_ai.evaluation.score.value"] == 0.42
    assert (evaluation["gen_ai.provider.name"], evaluation["gen_ai.request.model"], evaluation["app.tenant.id"]) == (
        "openai", "gpt-4o", "acme")
    assert evaluation["time_unix_nano"] == T0 + 2 * NS


def rag_trace(app: Recorder, at_s: float = 0.0):
    """A RAG request: embedding + retrieval + rerank, then the LLM call, then a tool; returns (spans in end order
    grouped as three exports: children first, the root last)."""
    root = app.start("POST /ask", at_s)
    app.span("embed query", at_s + 0.0, at_s + 0.1, parent=root,
             **{"openinference.span.kind": "EMBEDDING", "embedding.model_name": "text-embedding-3-small",
                "llm.provider": "openai"})
    app.span("vector search", at_s + 0.1, at_s + 0.4, parent=root, **{"openinference.span.kind": "RETRIEVER"})
    app.span("vector search 2", at_s + 0.2, at_s + 0.5, parent=root, **{"openinference.span.kind": "RETRIEVER"})
    app.span("rerank", at_s + 0.5, at_s + 0.6, parent=root, **{"openinference.span.kind": "RERANKER"})
    first = app.take()
    app.span("chat gpt-4o", at_s + 0.6, at_s + 2.6, parent=root, **CHAT, **{"gen_ai.usage.input_tokens": 900})
    app.span("execute_tool send_email", at_s + 2.6, at_s + 2.9, parent=root,
             **{"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "send_email"})
    second = app.take()
    root.end(end_time=T0 + int((at_s + 3.0) * NS))
    return first, second, app.take()


def test_a_trace_split_over_messages_and_out_of_order_gets_its_stage_durations():
    app = Recorder()
    first, second, root = rag_trace(app)
    converter = OtlpConverter(STAGES)
    assert converter.handle(encode(second, "otlp_json")) == ([], []), "held until the trace completes"
    assert converter.handle(encode(first, "otlp_proto")) == ([], [])
    events, _ = convert([encode(root, "otlp_proto")], converter)
    [call] = [e for e in events if e["gen_ai.request.model"] == "gpt-4o"]
    assert call["app.stage.retrieval.duration"] == pytest.approx(0.6), "embed, two overlapping searches, rerank"
    assert call["app.stage.inference.duration"] == pytest.approx(2.0)
    assert call["app.stage.postprocess.duration"] == pytest.approx(0.3)
    [embedding] = [e for e in events if e["gen_ai.operation.name"] == "embeddings"]
    assert not any(k.startswith("app.stage.") for k in embedding), "a request's stages go on its main call only"
    assert converter.stats["complete"] == 1 and len(converter.traces) == 0


def test_a_trace_whose_root_never_comes_is_emitted_without_stages_after_the_wait_in_event_time():
    app = Recorder()
    first, second, _ = rag_trace(app, at_s=0)
    converter = OtlpConverter(STAGES, wait_s=30, clock=lambda: 0.0)
    converter.handle(encode(first + second, "otlp_proto"))
    app.span("later call", 20, 21, **CHAT)
    assert convert([encode(app.take(), "otlp_proto")], converter)[0][0]["time_unix_nano"] == T0 + 20 * NS
    assert len(converter.traces) == 1, "the rootless trace is still within its wait"
    app.span("much later call", 40, 41, **CHAT)
    events, _ = convert([encode(app.take(), "otlp_proto")], converter)
    held = [e for e in events if e["time_unix_nano"] < T0 + 20 * NS]
    assert {e["gen_ai.operation.name"] for e in held} == {"chat", "embeddings"}
    assert not any(k.startswith("app.stage.") for e in held for k in e)
    assert converter.stats["timed_out"] == 1 and len(converter.traces) == 0


def test_when_traffic_stops_held_traces_go_after_the_wait_in_wall_time():
    now = [0.0]
    app = Recorder()
    first, second, _ = rag_trace(app)
    converter = OtlpConverter(STAGES, wait_s=30, clock=lambda: now[0])
    converter.handle(encode(first + second, "otlp_json"))
    now[0] = 29.0
    assert converter.expire() == []
    now[0] = 31.0
    assert {e["gen_ai.operation.name"] for e in converter.expire()} == {"chat", "embeddings"}


def test_memory_is_bounded_the_oldest_held_trace_is_emitted_first():
    app = Recorder()
    converter = OtlpConverter(STAGES, max_traces=2, clock=lambda: 0.0)
    for i in range(3):
        first, second, _ = rag_trace(app, at_s=i)
        events, _ = converter.handle(encode(second, "otlp_proto"))
    assert len(converter.traces) == 2 and converter.stats["evicted"] == 1
    assert [e["time_unix_nano"] for e in events] == [T0 + int(0.6 * NS)], "the first trace's call, without stages"


def test_a_call_span_that_misses_a_required_field_is_rejected_with_a_reason_naming_it():
    app = Recorder()
    app.span("chat", 0, 1, **{"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai"})
    events, rejections = OtlpConverter(STAGES).handle(encode(app.take(), "otlp_proto"))
    valid, rejected = validated(events)
    assert rejections == [] and valid == []
    assert "gen_ai.request.model" in rejected[0].reason and rejected[0].field == "gen_ai.request.model"


def test_bytes_that_are_not_otlp_are_rejected_with_the_decoders_reason():
    converter = OtlpConverter(STAGES)
    assert "not valid JSON" in converter.handle(b"{not json")[1][0].reason
    assert "no resourceSpans" in converter.handle(b'{"event.id": "e1"}')[1][0].reason


def replay_cli(capsys, path: Path) -> tuple[int, str]:
    """``inferwatch replay PATH --quiet`` as the entry point runs it (in this process: the command's own code path,
    without a second interpreter importing everything again): exit code and stderr."""
    code = cli.main(["replay", str(path), "--quiet"])
    return code, capsys.readouterr().err


def test_replay_reads_otlp_json_lines_and_our_json_lines_in_one_file(tmp_path, capsys):
    app = Recorder()
    lines = [encode(part, "otlp_json") for part in rag_trace(app)]
    ours = {"event.id": "e1", "time_unix_nano": T0 + 5 * NS, "service.name": "rag-api", **CHAT,
            "gen_ai.client.operation.duration": 0.7, "error.type": None}
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(b"\n".join([*lines, orjson.dumps(ours)]) + b"\n")
    code, stderr = replay_cli(capsys, path)
    assert code == 0, stderr
    assert "replay: 3 events (0 rejected)" in stderr, stderr
    assert "traces: 1 complete" in stderr


def test_replay_shows_why_events_were_rejected_and_fails_when_all_were(tmp_path, capsys):
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b'{"event.id": "e2", "service.name": "chat"}\n')
    code, stderr = replay_cli(capsys, path)
    assert code == 1
    assert "0 events (1 rejected)" in stderr
    assert "line 1: missing required field time_unix_nano" in stderr


def test_the_collector_config_in_the_docs_parses_and_names_what_the_decoder_accepts():
    import yaml

    from inferwatch.streams.config import KafkaSettings
    from inferwatch.streams.otlp.decode import ENCODINGS as ACCEPTED

    page = (ROOT / "docs" / "connect-your-app.md").read_text()
    block = page.split("```yaml\n", 1)[1].split("```", 1)[0]
    collector = yaml.safe_load(block)
    kafka = collector["exporters"]["kafka"]
    assert kafka["traces"]["topic"] == KafkaSettings().otlp_topic
    assert kafka["traces"]["encoding"] in ACCEPTED and kafka["partition_traces_by_id"] is True
    assert collector["service"]["pipelines"]["traces"]["exporters"] == ["kafka"]
