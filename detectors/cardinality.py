"""Caps on how many series the engine keeps, so a producer that floods a key field cannot exhaust a worker's memory.

A producer that puts a request id into ``app.tenant.id`` (or a user name into ``service.name``) would otherwise open
one series per event, each with its detectors and buckets, and every series is judged on every bucket. So:

- at most ``max_services`` services have series in memory; events of any further service join the services'
  overflow series, whose every key field is ``OTHER``;
- per service, at most ``max_series_per_service`` series of the primary key set (models, providers) and
  ``max_extra_series_per_service`` series of each extra key set (tenants, routes, SLO groups); further events of that
  service join its overflow series in that key set, whose key fields are ``OTHER`` except ``service.name``.

An overflow series is a series like any other (detected on, checkpointed), so folded traffic is still watched as a
whole. A slot frees when a series is evicted after ``idle_evict_s`` without events. ``OTHER`` is ``"__other__"``
rather than ``"other"``: a real tenant may well be called ``other``, and the dunder makes the folding visible.

>>> caps = SeriesCaps(max_services=1, per_key_set=[2], service_at=[1])
>>> for model in ("a", "b", "c"):
...     key, cap = caps.fold((0, "chat", model))
...     caps.opened(key, folded=cap is not None)
...     print(key, cap)
(0, 'chat', 'a') None
(0, 'chat', 'b') None
(0, 'chat', '__other__') per-service
>>> caps.fold((0, "search", "a"))
((0, '__other__', '__other__'), 'services')
>>> caps.closed((0, "chat", "a")); caps.fold((0, "chat", "d"))
((0, 'chat', 'd'), None)
"""
from __future__ import annotations

from collections import Counter

#: the value every folded key field takes
OTHER = "__other__"
#: the ``(kind, signal)`` of the one record that says a cap was reached (runbooks/series-cap.md)
CAP_KIND, CAP_SIGNAL = "cardinality", "series.cap"


class SeriesCaps:
    """Counts the series in memory per service and key set, and says which key a new series' events must join."""

    def __init__(self, max_services: int, per_key_set: list[int], service_at: list[int | None]) -> None:
        self.max_services = max_services
        #: per key set index: the most series one service may have in it
        self.per_key_set = per_key_set
        #: per key set index: the position of ``service.name`` in its keys (None: the key set has no service field)
        self.service_at = service_at
        self._services: Counter = Counter()  # service -> its series in memory, all key sets, overflow ones included
        self._own: Counter = Counter()  # (key set index, service) -> its series in memory that are not overflow
        self._folded: set[tuple] = set()  # overflow series in memory (one per service and key set at most)

    def fold(self, key: tuple) -> tuple[tuple, str | None]:
        """The key whose series the events of a series not in memory join: ``key`` itself while its service and key
        set are under their caps (cap None), else the overflow key and which cap was reached (``services`` or
        ``per-service``)."""
        index = key[0]
        at = self.service_at[index]
        service = key[at] if at is not None else None
        if service not in self._services and len(self._services) >= self.max_services:
            return (index, *([OTHER] * (len(key) - 1))), "services"
        if self._own[index, service] >= self.per_key_set[index]:
            return (index, *(v if i == at else OTHER for i, v in enumerate(key[1:], 1))), "per-service"
        return key, None

    def service(self, key: tuple):
        at = self.service_at[key[0]]
        return key[at] if at is not None else None

    def opened(self, key: tuple, folded: bool) -> None:
        service = self.service(key)
        self._services[service] += 1
        if folded:
            self._folded.add(key)
        else:
            self._own[key[0], service] += 1

    def closed(self, key: tuple) -> None:
        service = self.service(key)
        _decrement(self._services, service)
        if key in self._folded:
            self._folded.discard(key)
        else:
            _decrement(self._own, (key[0], service))


def _decrement(counter: Counter, item) -> None:
    counter[item] -= 1
    if counter[item] <= 0:
        del counter[item]
