"""OpenTelemetry spans in: what LLM apps already emit, turned into our telemetry events.

One concept per module, in the order data flows:

- ``decode``: a Kafka message or file line (``otlp_proto`` or ``otlp_json``) into flat ``Span`` records;
- ``genai``: which spans are GenAI client calls (GenAI conventions, OpenLLMetry, OpenInference, LiteLLM) and
  which request stage a span stands for; a call span as one ``llm_call`` event;
- ``traces``: spans gathered per trace (bounded wait and memory) so the call event carries per-stage durations;
- ``convert``: the three behind one object, used by the worker's OTLP agent and by ``inferwatch replay``.

See docs/connect-your-app.md for the Collector configuration and what each instrumentation needs to set.
"""
