"""The six faults of issue 8, each one run of the shared stream (``harness``) with one thing broken on purpose.

Each case returns its row of the fault table (``Figures``), judged against the undisturbed run; the tests assert on
it and ``scripts/fault_suite.py`` prints it. Time is compressed where the fault is a duration (see ``harness.RETRY``).
"""
from __future__ import annotations

import threading
import time
from pathlib import Path

from tests.conftest import LocalStack
from tests.faults.harness import TIME_SCALE, Figures, Lab, RedisServer, bring_back, kill_broker, stream, take_down
from tests.streams.conftest import GROUP_TIMEOUTS
from tests.streams.test_partitioning import wait_for_group

#: share of the stream handled when the broker or a worker is killed: well inside the stream, after the first pages
KILL_AT = 0.5
BROKER_DOWN_S = 3.0
REDIS_DOWN_S = 3.0
#: "Slack down for 2 minutes", compressed with the retry schedule: half of it answering 503, half refusing connections
SLACK_DOWN_S = 120.0 / TIME_SCALE
#: PagerDuty answers this many Events API requests with 429 and ``Retry-After`` before accepting again
PAGERDUTY_429S = 40
RETRY_AFTER_S = "1"


def page_request(provider: str):
    """Matches a first page reaching ``provider`` (not an update, a resolve or a thread reply of a transition)."""
    if provider == "slack":
        return lambda method, body: method == "chat.postMessage" and "/r0/l0/" in str(body.get("metadata"))
    return lambda method, body: method == "enqueue" and body.get("event_action") == "trigger"


def handled(run, share: float) -> bool:
    return sum(run.events_handled(i) for i in range(len(run.workers))) >= share * len(stream())


def broker_killed(lab: Lab, stack: LocalStack) -> Figures:
    """The broker is SIGKILLed mid-stream and started again on the same data dir; the worker keeps running. The
    stream's second half is published only once the broker is back, so the kill always falls mid-stream however fast
    the worker is."""
    run = lab.run("broker", bootstrap=stack.kafka_bootstrap)
    half = round(KILL_AT * len(stream()))
    try:
        run.publish(stream()[:half])
        worker = run.start_worker()
        run.wait_until(lambda: handled(run, KILL_AT * 0.9), f"{KILL_AT:.0%} of the stream handled")
        kill_broker(stack)
        at_kill = run.events_handled()
        time.sleep(BROKER_DOWN_S)
        stack.up("kafka")
        run.publish(stream()[half:])
        run.settle()
        assert worker.proc.poll() is None, f"the worker died with the broker:\n{run.log_tails()}"
        assert at_kill < len(stream()), "the broker must die mid-stream for the case to mean anything"
        return run.outcome().figures("1. Kafka broker SIGKILLed mid-stream, restarted", lab.undisturbed(),
                                     f"killed at {at_kill:.0f} of {len(stream())} events, down {BROKER_DOWN_S:.0f} s "
                                     "+ its restart; the same worker caught up")
    finally:
        lab.finish(run)


def redis_restarted(lab: Lab, directory: Path) -> Figures:
    """Redis (AOF, fsync always) is SIGKILLed the moment a page reaches Slack (sent, not yet recorded: in flight),
    and started again on the same AOF."""
    server = RedisServer(directory).start()
    run = lab.run("redis", redis_url=server.url)
    killed, back = threading.Event(), threading.Event()

    def restart() -> None:
        time.sleep(REDIS_DOWN_S)
        server.start()
        back.set()

    def kill_on_second_page(method: str, body: dict) -> None:
        if page_request("slack")(method, body) and run.slack.calls("chat.postMessage") and not killed.is_set():
            killed.set()
            server.kill()
            threading.Thread(target=restart, daemon=True).start()

    run.slack.on_request = kill_on_second_page
    try:
        run.publish()
        worker = run.start_worker()
        run.wait_until(back.is_set, "Redis killed and back")
        run.settle()
        assert worker.proc.poll() is None, f"the worker died with Redis:\n{run.log_tails()}"
        return run.outcome().figures("2. Redis SIGKILLed mid-escalation (AOF, fsync always), restarted",
                                     lab.undisturbed(), f"killed as the 2nd page reached Slack, down "
                                     f"{REDIS_DOWN_S:.0f} s")
    finally:
        run.slack.on_request = None
        lab.finish(run)
        server.stop()


def worker_killed_delivering(lab: Lab) -> Figures:
    """The worker is SIGKILLed as its page reaches the provider (claimed, sent, not recorded), twice: at its first
    Slack page, then the restarted worker at its first PagerDuty trigger. A third worker finishes."""
    run = lab.run("delivery")
    killed: list[str] = []

    def kill_at_first_page(provider: str, worker) -> None:
        matches = page_request(provider)

        def hook(method: str, body: dict) -> None:
            if provider not in killed and matches(method, body):
                killed.append(provider)
                worker.sigkill()  # the provider then processes the request: accepted, never recorded
        (run.slack if provider == "slack" else run.pagerduty).on_request = hook

    try:
        run.publish()
        for provider in ("slack", "pagerduty"):
            worker = run.start_worker()
            kill_at_first_page(provider, worker)
            run.wait_until(lambda: provider in killed, f"a page to {provider}")
            worker.proc.wait(30)
            run.slack.on_request = run.pagerduty.on_request = None
        run.start_worker()
        run.settle()
        return run.outcome().figures("3. worker SIGKILLed between a page's send and its record (x2)",
                                     lab.undisturbed(), "killed at its first Slack page, then the restarted one at "
                                     "its first PagerDuty trigger; a third worker finished")
    finally:
        run.slack.on_request = run.pagerduty.on_request = None
        lab.finish(run)


def worker_killed_in_group(lab: Lab) -> Figures:
    """Two workers share the 4 partitions; one is SIGKILLed mid-stream and the survivor takes its partitions over."""
    run = lab.run("rebalance")
    try:
        run.start_worker()
        survivor = run.start_worker()
        wait_for_group(run.bootstrap, run.group, members=2)
        run.publish()
        run.wait_until(lambda: handled(run, KILL_AT * 0.6) and run.events_handled(0) > 0,
                       "both workers handling the stream")
        at_kill = run.events_handled(0)
        run.workers[0].kill()
        run.settle()
        assert survivor.proc.poll() is None
        return run.outcome().figures("4. one of two workers SIGKILLed, the other takes over", lab.undisturbed(),
                                     f"the killed one had handled {at_kill:.0f} events; session timeout "
                                     f"{GROUP_TIMEOUTS['BROKER_SESSION_TIMEOUT']} s")
    finally:
        lab.finish(run)


SLACK_METHODS = ("chat.postMessage", "chat.update", "conversations.history", "conversations.replies")


def slack_down(lab: Lab) -> Figures:
    """From the first call on, Slack answers 503 for half the outage, then refuses connections for the other half,
    then recovers."""
    run = lab.run("slack-down")
    started = threading.Event()

    def outage_begins(method: str, body: dict) -> None:
        if not started.is_set():
            started.set()
            for name in SLACK_METHODS:
                run.slack.fail(name, 503, {"ok": False, "error": "service_unavailable"}, times=10**6)

    run.slack.on_request = outage_begins
    try:
        run.publish()
        run.start_worker()
        run.wait_until(started.is_set, "a first call to Slack")
        time.sleep(SLACK_DOWN_S / 2)
        take_down(run.slack)
        answered_503 = len(run.slack.requests)
        run.slack.failures.clear()
        time.sleep(SLACK_DOWN_S / 2)
        bring_back(run.slack)
        run.settle()
        return run.outcome().figures(f"5. Slack down {SLACK_DOWN_S:.0f} s (2 min at 1/{TIME_SCALE:g} time)",
                                     lab.undisturbed(), f"{answered_503} calls answered 503 in {SLACK_DOWN_S / 2:.0f}"
                                     f" s, then connections refused for {SLACK_DOWN_S / 2:.0f} s")
    finally:
        run.slack.on_request = None
        lab.finish(run)


def pagerduty_429_storm(lab: Lab) -> Figures:
    """PagerDuty answers the first ``PAGERDUTY_429S`` Events API calls with 429 and Retry-After."""
    run = lab.run("pd-429")
    run.pagerduty.fail("enqueue", 429, {"status": "throttle event", "message": "Requests for this service are "
                                                                              "arriving too quickly"},
                       headers={"Retry-After": RETRY_AFTER_S}, times=PAGERDUTY_429S)
    try:
        run.publish()
        run.start_worker()
        run.settle()
        assert not run.pagerduty.failures.get("enqueue"), "the storm must be over for the case to mean anything"
        return run.outcome().figures(f"6. PagerDuty 429 storm ({PAGERDUTY_429S} x 429, Retry-After "
                                     f"{RETRY_AFTER_S} s)", lab.undisturbed(),
                                     f"{len(run.pagerduty.requests)} Events API calls, {PAGERDUTY_429S} of them "
                                     f"answered 429")
    finally:
        lab.finish(run)
