"""A bucket close costs what the series that need judging cost (issues 8 and 12): series whose ring holds only
silent buckets rest, judged on the signals that read silence (traffic) and nothing else, and are saved exactly as if
every signal had been judged."""
from __future__ import annotations

import pickle

from inferwatch.detectors.config import DetectorSettings
from inferwatch.detectors.engine import DetectionEngine, restore_series
from inferwatch.detectors.state import InMemoryStateStore

NS = 10**9
T0 = 1_767_225_600 * NS
BUCKET_NS = 15 * NS
IDLE, BUSY, SERVICES = 10_000, 10, 10


def call(t: int, service: str, tenant: str) -> dict:
    return {"event.id": f"{service}/{tenant}/{t}", "time_unix_nano": t, "service.name": service,
            "gen_ai.provider.name": "openai", "gen_ai.request.model": "m", "app.tenant.id": tenant,
            "gen_ai.client.operation.duration": 0.5, "error.type": None}


def busy_bucket(engine: DetectionEngine, index: int) -> list[dict]:
    t = T0 + index * BUCKET_NS
    return [r for i in range(BUSY) for r in engine.process(call(t + i, "svc-0", f"busy-{i}"))]


def test_a_bucket_close_judges_busy_series_on_every_signal_and_idle_ones_on_traffic_only():
    settings = DetectorSettings(long_window_buckets=4)
    engine = DetectionEngine(settings)
    for i in range(IDLE):  # each idle tenant sends one call in the first bucket, then nothing
        engine.process(call(T0 + i, f"svc-{i % SERVICES}", f"idle-{i}"))
    for index in range(1, settings.long_window_buckets + 3):  # their rings fill with silent buckets
        busy_bucket(engine, index)
    before = dict(engine.judged)
    busy_bucket(engine, settings.long_window_buckets + 3)  # closes one bucket
    judged = {what: engine.judged[what] - before.get(what, 0) for what in ("full", "silence")}
    # busy: 10 tenant series and the model series of svc-0; resting: 10,000 tenants and 9 idle model series
    assert judged == {"full": BUSY + 1, "silence": IDLE + SERVICES - 1}
    assert engine.series_count() == IDLE + BUSY + SERVICES


def test_a_resting_series_is_saved_with_the_calm_steps_its_skipped_episodes_took():
    settings = DetectorSettings(long_window_buckets=4)
    store = InMemoryStateStore()
    engine = DetectionEngine(settings, store)
    engine.process(call(T0, "svc-0", "idle"))
    for index in range(1, 30):
        busy_bucket(engine, index)
    engine.checkpoint()  # saves it: it changed (its one call) since the last checkpoint
    assert engine.judged["silence"] > 20  # the idle tenant rested most of the time (judged, if asleep, on saving)
    idle = restore_series(store.items['{"service.name":"svc-0","app.tenant.id":"idle"}'])
    calm = {name: episode.below for name, episode in idle.episodes.items()}
    # traffic was judged on every bucket; the others, skipped while resting, took the same calm steps at once
    assert len(calm) == 5 and set(calm.values()) == {calm["traffic"]} and calm["traffic"] > 25


class NeverSleeps(DetectionEngine):
    """The engine as it was before sleeping: every series visited at every bucket close."""

    def _sleep(self, *args) -> None:
        pass


def test_idle_tenants_sleep_through_closes_and_wake_as_if_they_never_slept():
    settings = DetectorSettings(long_window_buckets=4)
    sleepy, reference = DetectionEngine(settings, InMemoryStateStore()), NeverSleeps(settings, InMemoryStateStore())
    records = {id(sleepy): [], id(reference): []}
    visits = []

    def feed(event: dict) -> None:
        for engine in (sleepy, reference):
            records[id(engine)] += engine.process(event)

    for i in range(300):
        feed(call(T0 + i, f"svc-{i % SERVICES}", f"idle-{i}"))
    for index in range(1, 80):
        before = sum(sleepy.judged.values())
        for i in range(BUSY):
            feed(call(T0 + index * BUCKET_NS + i, "svc-0", f"busy-{i}"))
        visits.append(sum(sleepy.judged.values()) - before)
        if index == 30:  # an idle tenant's late call (stamped 10 buckets ago) wakes it; it sleeps again
            feed(call(T0 + (index - 10) * BUCKET_NS + 99, "svc-7", "idle-7"))
        if index in (60, 61):  # another wakes with a surge of 200 calls: records, judged on what it slept through
            for j in range(200):
                feed(call(T0 + index * BUCKET_NS + 100 + j, "svc-3", "idle-3"))
    # a close visits the busy series and the idle model series (which never sleep), not the 298 sleeping tenants
    assert max(visits[20:29]) <= BUSY + 1 + SERVICES - 1 < 300
    assert records[id(sleepy)] == records[id(reference)] and records[id(sleepy)]
    sleepy.checkpoint(), reference.checkpoint()
    for key in sleepy.store.items:  # saved state, the slept-through buckets judged first: the same as never sleeping
        a, b = restore_series(sleepy.store.items[key]), restore_series(reference.store.items[key])
        assert pickle.dumps((a.next_close, a.ring, a.detectors, a.episodes)) == \
            pickle.dumps((b.next_close, b.ring, b.detectors, b.episodes)), key
