"""Which spans are GenAI client calls, what stage of a request a span is, and a call span as one telemetry event.

Four attribute sets are read, as instrumentations emit them (names taken from each project's own constants):

- the OpenTelemetry GenAI conventions: ``gen_ai.operation.name``, ``gen_ai.provider.name`` (or the older
  ``gen_ai.system``), ``gen_ai.request.model``, ``gen_ai.usage.*``;
- OpenLLMetry (Traceloop): ``llm.request.type`` (``chat``, ``completion``, ``embedding``, ``rerank``),
  ``gen_ai.system``, ``gen_ai.usage.prompt_tokens``/``completion_tokens`` or ``llm.usage.*``;
- OpenInference (Arize Phoenix): ``openinference.span.kind`` (``LLM``, ``EMBEDDING``, ``RETRIEVER``, ``RERANKER``,
  ``TOOL``, ...), ``llm.provider``/``llm.system``, ``llm.model_name``, ``llm.token_count.*``, ``llm.cost.total``;
- LiteLLM's OpenTelemetry callback: ``gen_ai.system`` (its ``custom_llm_provider``), ``llm.request.type`` and
  ``gen_ai.operation.name`` set to its call type (``acompletion``, ``aembedding``...), ``gen_ai.cost.total_cost``.

A span is a call when an operation and a provider can be read from it and the operation is a model call (not
``execute_tool`` or ``invoke_agent``: those are steps of a request, read as stages). The event keeps every other
span attribute (``app.tenant.id``, ``app.route``...) except message content, which is opt-in in our events and
dropped here; ``streams.schema`` then validates it like any event, and maps the remaining vendor names.

>>> from inferwatch.streams.otlp.decode import Span
>>> span = Span("ab" * 16, "cd" * 8, "", False, "ChatOpenAI", 1767225600 * 10**9, 1767225601 * 10**9 + 5 * 10**8,
...     0, "", {"openinference.span.kind": "LLM", "llm.provider": "openai", "llm.model_name": "gpt-4o",
...     "llm.token_count.prompt": 30, "input.value": "a prompt", "app.tenant.id": "t1"}, {"service.name": "rag"}, ())
>>> event = call_event(span)
>>> event["gen_ai.provider.name"], event["gen_ai.operation.name"], event["gen_ai.client.operation.duration"]
('openai', 'chat', 1.5)
>>> event["event.id"], event["error.type"], event["app.tenant.id"], "input.value" in event
('cdcdcdcdcdcdcdcd', None, 't1', False)
>>> stage_of(span, ["retrieval", "inference"])
'inference'
"""
from __future__ import annotations

from typing import Iterable

import orjson

from inferwatch.detectors.contract import NS
from inferwatch.streams.otlp.decode import STATUS_ERROR, Span

#: where the provider is named, most specific first (OpenInference's ``llm.provider`` is who serves the model,
#: ``llm.system`` the API family: Azure OpenAI is provider ``azure``, system ``openai``)
PROVIDER_KEYS = ("gen_ai.provider.name", "gen_ai.system", "llm.provider", "llm.system")
MODEL_KEYS = ("gen_ai.request.model", "llm.request.model", "llm.model_name", "embedding.model_name",
              "gen_ai.response.model")
#: ``gen_ai.operation.name`` values written by LiteLLM (its call types) mapped to the GenAI convention's names
OPERATION_ALIASES = {"acompletion": "chat", "completion": "chat", "embedding": "embeddings",
                     "aembedding": "embeddings", "atext_completion": "text_completion"}
#: OpenLLMetry's ``llm.request.type`` (LiteLLM writes its call type there too, mapped above)
REQUEST_TYPE_OPERATIONS = {"chat": "chat", "completion": "text_completion", "embedding": "embeddings",
                           "rerank": "rerank", "acompletion": "chat", "aembedding": "embeddings"}
#: OpenInference span kinds that are model calls
SPAN_KIND_OPERATIONS = {"LLM": "chat", "EMBEDDING": "embeddings"}
#: operations that are steps of a request rather than a call to a model
NOT_CALLS = frozenset({"execute_tool", "invoke_agent", "create_agent", "invoke_workflow"})

#: stage a span stands for, by OpenInference span kind / GenAI operation / OpenLLMetry request type or span kind.
#: A span can say its stage itself with ``app.stage`` (e.g. ``prompt`` or ``delivery``, which no convention marks).
STAGE_BY_SPAN_KIND = {"RETRIEVER": "retrieval", "EMBEDDING": "retrieval", "RERANKER": "retrieval",
                      "LLM": "inference", "TOOL": "postprocess"}
STAGE_BY_OPERATION = {"embeddings": "retrieval", "retrieval": "retrieval", "rerank": "retrieval",
                      "chat": "inference", "text_completion": "inference", "generate_content": "inference",
                      "execute_tool": "postprocess"}
STAGE_BY_TRACELOOP_KIND = {"tool": "postprocess"}
STAGE_ATTRIBUTE = "app.stage"

#: attributes holding prompts, completions, documents or vectors: message content is opt-in, so never copied
CONTENT_PREFIXES = ("gen_ai.prompt", "gen_ai.completion", "gen_ai.input.messages", "gen_ai.output.messages",
                    "gen_ai.system_instructions", "gen_ai.tool.definitions", "gen_ai.tool.call.arguments",
                    "gen_ai.tool.call.result", "llm.input_messages", "llm.output_messages", "llm.prompts",
                    "llm.prompt_template", "llm.tools", "llm.request.functions", "input.", "output.",
                    "embedding.embeddings", "retrieval.documents", "reranker.", "traceloop.entity.input",
                    "traceloop.entity.output", "tool.parameters", "hidden_params")
#: resource attributes copied onto events (the rest, host/process/SDK details, would only bloat them)
RESOURCE_KEYS = ("service.name", "service.version", "service.namespace", "deployment.environment.name")
#: fields an evaluation event copies from the call it judges, so it joins the call's series
CALL_LABELS = ("service.name", "deployment.environment.name", "gen_ai.provider.name", "gen_ai.request.model",
               "gen_ai.response.model", "gen_ai.operation.name", "gen_ai.response.id", "app.tenant.id",
               "app.route", "app.variant", "app.prompt.version", "trace_id")
EVALUATION_EVENT = "gen_ai.evaluation.result"
#: ``error.type`` when the span's status is ERROR and nothing names the error (as the conventions say)
OTHER_ERROR = "_OTHER"
COST_KEYS = ("gen_ai.cost.total_cost", "llm.cost.total")


def operation_of(attrs: dict) -> str | None:
    op = attrs.get("gen_ai.operation.name")
    if isinstance(op, str) and op:
        return OPERATION_ALIASES.get(op, op)
    request_type = attrs.get("llm.request.type")
    if isinstance(request_type, str) and request_type:
        return REQUEST_TYPE_OPERATIONS.get(request_type, request_type)
    return SPAN_KIND_OPERATIONS.get(attrs.get("openinference.span.kind"))


def provider_of(attrs: dict) -> str | None:
    for key in PROVIDER_KEYS:
        value = attrs.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def is_call(span: Span) -> bool:
    op = operation_of(span.attributes)
    return op is not None and op not in NOT_CALLS and provider_of(span.attributes) is not None


def stage_of(span: Span, stages: Iterable[str]) -> str | None:
    """The configured stage this span's time counts toward, if any."""
    attrs = span.attributes
    stage = attrs.get(STAGE_ATTRIBUTE) or STAGE_BY_SPAN_KIND.get(attrs.get("openinference.span.kind"))
    if stage is None:
        op = operation_of(attrs)
        stage = STAGE_BY_OPERATION.get(op) if op else STAGE_BY_TRACELOOP_KIND.get(attrs.get("traceloop.span.kind"))
    return stage if stage in stages else None


def call_event(span: Span) -> dict | None:
    """The ``llm_call`` event of a call span, or None if the span is not a GenAI client call."""
    attrs = span.attributes
    op = operation_of(attrs)
    provider = provider_of(attrs)
    if op is None or op in NOT_CALLS or provider is None:
        return None
    event = {key: value for key, value in attrs.items() if not key.startswith(CONTENT_PREFIXES)}
    for key in RESOURCE_KEYS:
        if key in span.resource:
            event[key] = span.resource[key]
    for key, value in span.resource.items():
        if key.startswith("app.") and key not in event:
            event[key] = value
    if "deployment.environment.name" not in event and "deployment.environment" in span.resource:
        event["deployment.environment.name"] = span.resource["deployment.environment"]  # pre-1.27 name
    model = next((attrs[k] for k in MODEL_KEYS if isinstance(attrs.get(k), str) and attrs[k]), None)
    if model is not None:
        event["gen_ai.request.model"] = model
    event.update({
        "event.id": span.span_id, "event.kind": "llm_call", "time_unix_nano": span.start_ns,
        "trace_id": span.trace_id, "span_id": span.span_id,
        "gen_ai.operation.name": op, "gen_ai.provider.name": provider,
        "gen_ai.client.operation.duration": max(span.end_ns - span.start_ns, 0) / NS,
        "error.type": error_type(span),
    })
    _normalize_values(event)
    return event


def error_type(span: Span) -> str | None:
    """``error.type`` as set, else the recorded exception's type, else ``_OTHER`` for an ERROR status."""
    value = span.attributes.get("error.type")
    if isinstance(value, str) and value:
        return value
    if span.status_code != STATUS_ERROR:
        return None
    for event in span.events:
        if event.name == "exception" and event.attributes.get("exception.type"):
            return str(event.attributes["exception.type"])
    return OTHER_ERROR


def evaluation_events(span: Span, call: dict) -> list[dict]:
    """``gen_ai.evaluation.result`` span events as our evaluation events, labelled like the ``call`` they judge."""
    out = []
    for i, event in enumerate(e for e in span.events if e.name == EVALUATION_EVENT):
        evaluation = {key: call[key] for key in CALL_LABELS if key in call}
        evaluation.update(event.attributes)
        evaluation.update({"event.id": f"{span.span_id}-eval-{i}", "event.kind": "evaluation",
                           "time_unix_nano": event.time_ns or span.end_ns, "span_id": span.span_id})
        out.append(evaluation)
    return out


def _normalize_values(event: dict) -> None:
    """Values some SDKs send in another type than our schema checks: whole-number token counts as doubles,
    finish reasons as a JSON string (LiteLLM), cost under a vendor name."""
    for key, value in event.items():
        if isinstance(value, float) and value.is_integer() and ("token" in key):
            event[key] = int(value)
    reasons = event.get("gen_ai.response.finish_reasons")
    if isinstance(reasons, str):
        try:
            parsed = orjson.loads(reasons)
        except orjson.JSONDecodeError:
            parsed = [reasons]
        event["gen_ai.response.finish_reasons"] = parsed if isinstance(parsed, list) else [reasons]
    if "app.cost.usd" not in event:
        cost = next((event[k] for k in COST_KEYS if isinstance(event.get(k), (int, float))), None)
        if cost is not None:
            event["app.cost.usd"] = cost
