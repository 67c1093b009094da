"""Render a sample Slack page (the Block Kit our templates produce) to HTML and screenshot it with headless chromium:
docs/images/slack-page.png. The HTML imitates Slack's look for the block types we use (header, section, fields,
context, actions) and the mrkdwn we emit (*bold*, `code`, <url|text>); it is a picture for the docs, not a renderer.

    .venv/bin/python scripts/slack_page_image.py [--out docs/images/slack-page.png]
"""
from __future__ import annotations

import argparse
import html
import re
import subprocess
import tempfile
from pathlib import Path

from inferwatch.alerting.alert import Alert, AlertView, RunbookLink
from inferwatch.alerting.templates import PageLinks, slack_blocks

RECORD = {"time_unix_nano": 1767229950000000000, "kind": "threshold", "signal": "gen_ai.client.operation.duration",
          "labels": {"service.name": "support-bot", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o"},
          "value": 2.513656, "expected": 1.615003, "score": 1.0, "severity": "critical",
          "detector": "adaptive_threshold", "fingerprint": "77d0f33a24b827e4",
          "exemplars": ["0a2b0200b2acaf5d083ee673e087ab93", "aece641aff08923bc024579101451230"],
          "stages": [{"stage": "inference", "value": 2.8429, "expected": 1.5701, "delta": 1.2728},
                     {"stage": "retrieval", "value": 0.1204, "expected": 0.1286, "delta": -0.0082}],
          "contributors": {"app.tenant.id": [{"value": "tenant-004", "window": 41, "expected": 12.5}]}}
RUNBOOK = RunbookLink("llm-latency", "LLM call latency above its baseline",
                      "https://git.example/inferwatch/runbooks/latency.md",
                      ["Look at the stage breakdown in the alert: which stage moved?",
                       "Check the provider's status page for the model.", "Compare with the canary variant."])


def mrkdwn(text: str) -> str:
    out = html.escape(html.unescape(text), quote=False)
    out = re.sub(r"&lt;(https?://[^|&]+)\|([^&]+)&gt;", r'<a href="\1">\2</a>', out)
    out = re.sub(r"`([^`]*)`", r"<code>\1</code>", out)
    out = re.sub(r"\*([^*\n]+)\*", r"<b>\1</b>", out)
    return out.replace(":red_circle:", "<span style=\"color:#d0312d\">●</span>").replace(":rotating_light:", "").replace("\n", "<br>")


def block_html(block: dict) -> str:
    kind = block["type"]
    if kind == "header":
        return f'<div class="header">{html.escape(block["text"]["text"])}</div>'
    if kind == "section" and "fields" in block:
        return '<div class="fields">' + "".join(f"<div>{mrkdwn(f['text'])}</div>" for f in block["fields"]) + "</div>"
    if kind == "section":
        return f'<div class="section">{mrkdwn(block["text"]["text"])}</div>'
    if kind == "context":
        return '<div class="context">' + " ".join(mrkdwn(e["text"]) for e in block["elements"]) + "</div>"
    if kind == "actions":
        return '<div class="actions">' + "".join(
            f'<span class="button {b.get("style", "")}">{html.escape(b["text"]["text"])}</span>'
            for b in block["elements"]) + "</div>"
    return ""


STYLE = """body{font:15px/1.46 Lato,'Helvetica Neue',Arial,sans-serif;margin:0;background:#fff;color:#1d1c1d}
.msg{display:flex;padding:16px 20px;width:720px}.avatar{width:36px;height:36px;border-radius:6px;background:#4a154b;
margin-right:10px;color:#fff;font-weight:bold;text-align:center;line-height:36px}.name{font-weight:900}
.time{color:#616061;font-size:12px;margin-left:6px}.header{font-size:18px;font-weight:900;margin:6px 0}
.fields{display:grid;grid-template-columns:1fr 1fr;gap:6px 24px;margin:6px 0}.section{margin:8px 0}
.context{color:#616061;font-size:13px;margin:6px 0}code{color:#e01e5a;background:#f6f6f6;border:1px solid #ddd;
border-radius:3px;padding:0 3px;font-size:12px}a{color:#1264a3;text-decoration:none}
.actions{margin:10px 0}.button{display:inline-block;border:1px solid #bbb;border-radius:4px;padding:3px 12px;
margin-right:8px;font-weight:700;font-size:14px}.button.primary{background:#007a5a;color:#fff;border-color:#007a5a}"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="docs/images/slack-page.png")
    args = parser.parse_args()
    alert = Alert(fingerprint=RECORD["fingerprint"], state="firing", episode=1, severity="critical",
                  opened_at=RECORD["time_unix_nano"] / 1e9, record=RECORD, count=3)
    view = AlertView.of(alert, RUNBOOK)
    links = PageLinks("https://jaeger.example/trace/{trace_id}", "https://inferwatch.example")
    body = "".join(block_html(b) for b in slack_blocks(view, "", links))
    page = (f"<!doctype html><meta charset=utf-8><style>{STYLE}</style><div class=msg><div class=avatar>iw</div>"
            f"<div><span class=name>inferwatch</span><span class=time>APP 08:12</span>{body}</div></div>")
    with tempfile.NamedTemporaryFile("w", suffix=".html", delete=False) as fh:
        fh.write(page)
    subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    "--window-size=780,690", f"--screenshot={Path(args.out).resolve()}", f"file://{fh.name}"],
                   check=True, capture_output=True)
    print(args.out)


if __name__ == "__main__":
    main()
