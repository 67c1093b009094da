"""Writes docs/grafana/inferwatch.json, the provisioned Grafana dashboard, from the panel list below.

    .venv/bin/python scripts/grafana_dashboard.py      # after changing a panel; commit the JSON with it

Why generated: panels are data (title, queries, unit), and tests/streams/test_prometheus.py runs every query of the
JSON against a real Prometheus scraping a real worker, so a renamed metric cannot leave a panel silently empty.
Queries use two Grafana variables only: ``$service`` (a regex, "All" = ``.*``) and ``$__rate_interval``.
"""
from __future__ import annotations

import json
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "docs" / "grafana" / "inferwatch.json"
DATASOURCE = {"type": "prometheus", "uid": "prometheus"}
S = 'service=~"$service"'
R = "$__rate_interval"


def q95(metric: str, by: str, selector: str = S) -> str:
    return f"histogram_quantile(0.95, sum by (le, {by}) (rate({metric}_bucket{{{selector}}}[{R}])))"


#: (row title, [(panel title, unit, [(query, legend)], description)])
ROWS = [
    ("LLM latency", [
        ("Latency p95 end to end", "s", [(q95("inferwatch_llm_request_duration_seconds", "service, model"),
                                          "{{service}} {{model}}")],
         "95th percentile of gen_ai.client.operation.duration per series"),
        ("Latency window vs learned band", "s", [
            (f'inferwatch_signal_value{{signal="latency", {S}}}', "{{service}} {{model}} window"),
            (f'inferwatch_signal_expected{{signal="latency", {S}}}', "{{service}} {{model}} expected"),
            (f'inferwatch_signal_band_lower{{signal="latency", {S}}}', "{{service}} {{model}} band low"),
            (f'inferwatch_signal_band_upper{{signal="latency", {S}}}', "{{service}} {{model}} band high")],
         "The detector's window (geometric mean), its baseline and the band outside which it fires"),
        ("Stage latency p95", "s", [(q95("inferwatch_llm_stage_duration_seconds", "stage"), "{{stage}}")],
         "Per configured pipeline stage (app.stage.<stage>.duration)"),
        ("Stage windows vs learned band (upper edge)", "s", [
            (f'inferwatch_signal_value{{signal=~"stage:.*", {S}}}', "{{service}} {{signal}}"),
            (f'inferwatch_signal_band_upper{{signal=~"stage:.*", {S}}}', "{{service}} {{signal}} band high")],
         "Where the extra latency sits, against each stage's own baseline"),
        ("Time to first chunk p95", "s", [(q95("inferwatch_llm_time_to_first_chunk_seconds", "service, model"),
                                           "{{service}} {{model}}")], "Streaming calls only"),
    ]),
    ("Errors, tokens and cost", [
        ("Error rate by error.type", "percentunit", [
            (f"sum by (error_type) (rate(inferwatch_llm_errors_total{{{S}}}[{R}])) / scalar(sum(rate("
             f"inferwatch_llm_request_duration_seconds_count{{{S}}}[{R}])))", "{{error_type}}")],
         "Share of calls failing, by error.type (bounded set, then _OTHER)"),
        ("Calls per second by model", "reqps", [
            (f"sum by (model) (rate(inferwatch_llm_request_duration_seconds_count{{{S}}}[{R}]))", "{{model}}")], ""),
        ("Tokens per second by model", "short", [
            (f"sum by (model, type) (rate(inferwatch_llm_tokens_total{{{S}}}[{R}]))", "{{model}} {{type}}")], ""),
        ("Cost per hour by model", "currencyUSD", [
            (f"3600 * sum by (model) (rate(inferwatch_llm_cost_usd_total{{{S}}}[{R}]))", "{{model}}")], ""),
        ("Tokens per second by tenant (busiest)", "short", [
            (f"sum by (tenant) (rate(inferwatch_llm_tenant_tokens_total[{R}]))", "{{tenant}}")],
         "The busiest tenants by calls; everyone else is __other__"),
        ("Cost per hour by tenant (busiest)", "currencyUSD", [
            (f"3600 * sum by (tenant) (rate(inferwatch_llm_tenant_cost_usd_total[{R}]))", "{{tenant}}")], ""),
        ("Guardrail flags per second", "short", [
            (f"sum by (flag) (rate(inferwatch_llm_guardrail_flags_total{{{S}}}[{R}]))", "{{flag}}")],
         "prompt_injection, pii_detected, blocked, refusal"),
    ]),
    ("Detection", [
        ("Drift and concept-drift scores", "percentunit", [
            (f'max by (service, signal) (inferwatch_signal_score{{kind=~"data_drift|concept_drift", {S}}})',
             "{{service}} {{signal}}")], "Surprise score of each drift signal's latest window (1 = certain)"),
        ("Scores of every watched signal", "percentunit", [
            (f"max by (signal) (inferwatch_signal_score{{{S}}})", "{{signal}}")], ""),
        ("Anomaly records", "short", [
            (f"sum by (kind, status) (increase(inferwatch_anomalies_total[{R}]))", "{{kind}} {{status}}")], ""),
    ]),
    ("Pages", [
        ("Active alerts by state and severity", "short", [
            ("max by (state, severity) (inferwatch_alerting_active_alerts)", "{{state}} {{severity}}")],
         "From the alert store, the same on every worker (hence max)"),
        ("Deliveries by target and outcome", "short", [
            (f"sum by (target, outcome) (increase(inferwatch_alerting_deliveries_total[{R}]))",
             "{{target}} {{outcome}}")], "sent, retry, failed, skipped"),
        ("Record to first page p95", "s", [
            (f"histogram_quantile(0.95, sum by (le, target) (rate("
             f"inferwatch_alerting_record_to_first_page_seconds_bucket[{R}])))", "{{target}}")], ""),
    ]),
    ("Pipeline health", [
        ("Workers up", "short", [('up{job="inferwatch"}', "{{instance}}")], ""),
        ("Events and dead letters per second", "short", [
            (f"sum(rate(inferwatch_events_total[{R}]))", "events"),
            (f"sum by (field) (rate(inferwatch_events_rejected_total[{R}]))", "rejected {{field}}")], ""),
        ("Consumer lag", "short", [
            ("sum by (topic, partition) (inferwatch_consumer_lag_messages)", "{{topic}} [{{partition}}]")], ""),
        ("Event-time lag", "s", [("max by (instance) (inferwatch_event_time_lag_seconds)", "{{instance}}")],
         "Wall clock minus the watermark"),
        ("Event to record p95", "s", [
            (f"histogram_quantile(0.95, sum by (le) (rate(inferwatch_event_to_record_seconds_bucket[{R}])))",
             "p95")], "From the end of a record's window (event time) to its publication"),
        ("Message handling p99", "s", [
            (f"histogram_quantile(0.99, sum by (le) (rate(inferwatch_message_handle_seconds_bucket[{R}])))",
             "p99")], ""),
        ("Worker CPU and memory", "short", [
            (f'rate(process_cpu_seconds_total{{job="inferwatch"}}[{R}])', "{{instance}} CPU cores"),
            ('process_resident_memory_bytes{job="inferwatch"} / 2^20', "{{instance}} RSS MiB")], ""),
        ("Label sets dropped by the cardinality cap", "short", [
            (f"sum by (family) (rate(inferwatch_metric_series_dropped_total[{R}]))", "{{family}}")], ""),
    ]),
]

ANNOTATION_QUERY = 'sum by (kind, signal, severity) (increase(inferwatch_anomalies_total{status="firing"}[1m])) > 0'


def dashboard() -> dict:
    panels, y, next_id = [], 0, 1
    for row, items in ROWS:
        panels.append({"type": "row", "title": row, "id": next_id, "collapsed": False,
                       "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}, "panels": []})
        next_id, y = next_id + 1, y + 1
        for i, (title, unit, queries, description) in enumerate(items):
            panels.append({
                "type": "timeseries", "title": title, "id": next_id, "description": description,
                "datasource": DATASOURCE, "gridPos": {"h": 8, "w": 8, "x": 8 * (i % 3), "y": y + 8 * (i // 3)},
                "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
                "targets": [{"datasource": DATASOURCE, "expr": expr, "legendFormat": legend,
                             "refId": chr(ord("A") + n)} for n, (expr, legend) in enumerate(queries)],
            })
            next_id += 1
        y += 8 * ((len(items) + 2) // 3)
    return {
        "uid": "inferwatch", "title": "inferwatch: LLM telemetry, detection and pages", "schemaVersion": 39,
        "version": 1, "editable": True, "refresh": "10s", "time": {"from": "now-1h", "to": "now"},
        "tags": ["inferwatch", "llm"],
        "templating": {"list": [{
            "name": "service", "label": "Service", "type": "query", "datasource": DATASOURCE,
            "query": "label_values(inferwatch_llm_request_duration_seconds_count, service)",
            "definition": "label_values(inferwatch_llm_request_duration_seconds_count, service)",
            "includeAll": True, "allValue": ".*", "multi": True, "refresh": 2,
            "current": {"text": "All", "value": "$__all"}}]},
        "annotations": {"list": [{
            "name": "Anomalies", "datasource": DATASOURCE, "enable": True, "iconColor": "red",
            "expr": ANNOTATION_QUERY, "step": "30s", "titleFormat": "{{severity}} {{kind}}",
            "textFormat": "{{signal}}", "tagKeys": "kind,signal,severity"}]},
        "panels": panels,
    }


if __name__ == "__main__":
    OUT.write_text(json.dumps(dashboard(), indent=1) + "\n")
    print(f"wrote {OUT.relative_to(Path.cwd()) if OUT.is_relative_to(Path.cwd()) else OUT}")
