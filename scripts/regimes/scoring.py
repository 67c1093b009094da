"""Scores one run: anomaly records and pages against the incidents and deploys the generator injected.

* An incident is detected (by records, by pages) when a firing record / a page (any first page, thread replies
  included: a person sees them) about one of its kind's signals names its labels, within its span plus
  ``truth.GRACE_S``; the delay is from the incident's start.
* A false page is a top-level page (``pages.Page.top_level``) whose alert opened outside every incident with agreeing
  labels (no label present on both differs) and its grace, except the first page about a deploy's signals on the
  deployed series after the deploy (a deploy may page once).

>>> from scripts.regimes.pages import Page
>>> inc = Incident("error_burst", 600, 300, {"service.name": "a"})
>>> rec = {"time_unix_nano": 630 * NS, "signal": "error.rate", "labels": {"service.name": "a"}, "status": "firing"}
>>> page = Page(640.0, "slack", "f", "error.rate", {"service.name": "a"}, True, 630.0)
>>> stray = Page(100.0, "slack", "g", "request.rate", {"service.name": "a"}, True, 100.0)
>>> s = score([rec], [page, stray], [inc], [], start_s=0, duration_s=3600, services=2)
>>> s["detected_pages"], s["detected_records"], s["false_pages"], s["false_pages_per_hour_per_service"]
(1, 1, 1, 0.5)
>>> s["incidents"][0]["page_delay_s"]
40.0
"""
from __future__ import annotations

import statistics

from scripts.regimes.pages import Page
from scripts.regimes.truth import DEPLOY_SIGNALS, GRACE_S, KINDS, Deploy, Incident, signal_matches

NS = 1_000_000_000


def _names(labels: dict, contributors: dict, wanted: dict) -> bool:
    """Whether a record or page is about ``wanted``: in its labels or among its top contributors."""
    return all(labels.get(k) == v or any(c.get("value") == v for c in (contributors or {}).get(k, ()))
               for k, v in wanted.items())


def _agree(a: dict, b: dict) -> bool:
    return all(b[k] == v for k, v in a.items() if k in b)


def score(records: list[dict], pages: list[Page], incidents: list[Incident], deploys: list[Deploy],
          start_s: float, duration_s: float, services: int) -> dict:
    firing = [r for r in records if r.get("status", "firing") == "firing"]
    rows = []
    for inc in incidents:
        signals = KINDS[inc.kind].signals
        lo, hi = inc.start_s, inc.end_s + GRACE_S
        record_times = [r["time_unix_nano"] / NS - start_s for r in firing
                        if signal_matches(signals, r["signal"]) and lo <= r["time_unix_nano"] / NS - start_s <= hi
                        and _names(r["labels"], r.get("contributors"), inc.labels)]
        page_times = [p.time_s - start_s for p in pages
                      if signal_matches(signals, p.signal) and lo <= p.opened_s - start_s <= hi
                      and _names(p.labels, p.contributors, inc.labels)]
        rows.append({**inc.to_dict(),
                     "detected_records": bool(record_times),
                     "record_delay_s": round(min(record_times) - inc.start_s, 1) if record_times else None,
                     "detected_pages": bool(page_times),
                     "page_delay_s": round(min(page_times) - inc.start_s, 1) if page_times else None})
    false_pages, deploy_pages = [], []
    paged_deploys: set[int] = set()
    for page in sorted((p for p in pages if p.top_level), key=lambda p: p.time_s):
        opened = page.opened_s - start_s
        if any(inc.start_s <= opened <= inc.end_s + GRACE_S and _agree(inc.labels, page.labels) for inc in incidents):
            continue
        deploy = next((i for i, d in enumerate(deploys) if opened >= d.start_s and _agree(d.labels, page.labels)
                       and signal_matches(DEPLOY_SIGNALS[d.kind], page.signal)), None)
        if deploy is not None:
            deploy_pages.append(page)
            if deploy not in paged_deploys:
                paged_deploys.add(deploy)
                continue
        false_pages.append(page)
    hours = duration_s / 3600.0
    sudden_delays = [r["page_delay_s"] for r in rows if r["page_delay_s"] is not None and r["sudden"]]
    top = [p for p in pages if p.top_level]
    return {
        "incidents": rows,
        "incidents_total": len(rows),
        "detected_records": sum(r["detected_records"] for r in rows),
        "detected_pages": sum(r["detected_pages"] for r in rows),
        "median_page_delay_sudden_s": statistics.median(sudden_delays) if sudden_delays else None,
        "records_firing": len(firing),
        "records_per_hour": round(len(firing) / hours, 2),
        "pages": len(top),
        "slack_pages": sum(p.target == "slack" for p in top),
        "pagerduty_pages": sum(p.target == "pagerduty" for p in top),
        "deploy_pages": len(deploy_pages),
        "false_pages": len(false_pages),
        "false_pages_per_hour_per_service": round(len(false_pages) / hours / services, 3),
        "false_page_signals": sorted({f"{p.signal}@{p.labels.get('app.tenant.id') or p.labels.get('service.name')}"
                                      for p in false_pages})[:10],
    }
