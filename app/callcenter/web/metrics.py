"""Prometheus metrics at ``/metrics`` (``callcenter-server --metrics ENDPOINT``).

``prometheus_client`` does the exposition and serves it with its Twisted resource (a WSGI
resource run in the reactor's thread pool) under ``twisted.web``. Each server has a
registry of its own: the call center's figures, read at scrape time, two histograms fed
from the events' wait and ring times, and the library's process, platform and GC metrics.
The metric names are listed in docs/stats.md.

Layer: web. It reads the call center (``interfaces.ICallCenterObserver``) at each scrape
and hears its events (``interfaces.IEventSubscriber``) for the histograms: with a journal,
once they are durable.
"""

import queue
from collections import Counter
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

from prometheus_client import CollectorRegistry, GCCollector, Histogram, PlatformCollector, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from twisted.python import threadable
from twisted.web import resource, server
from zope.interface import implementer

from callcenter.core.events import CallAnswered, CallIgnored, CallRejected, RingCanceled
from callcenter.core.model import AVAILABLE, BUSY, LOGGED_OUT, PAUSED, RINGING, WRAP_UP
from callcenter.core.stats import presence_times
from callcenter.interfaces import ICallCenterObserver, IDiskState, IEventSubscriber
from callcenter.net.protocol import CallCenterServerFactory

# Upper bounds in seconds; the service level's default (20 s) is one of the wait buckets.
WAIT_BUCKETS = (1.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0, float("inf"))
RING_BUCKETS = (1.0, 2.0, 5.0, 10.0, 15.0, 20.0, 30.0, 60.0, float("inf"))
SNAPSHOT_TIMEOUT = 5.0

# (metric name without _total, figure of QueueFigures, help)
CALL_COUNTERS = (
    ("callcenter_calls_received", "received", "Calls that arrived."),
    ("callcenter_calls_answered", "answered", "Calls answered by an operator (those in progress included)."),
    ("callcenter_calls_missed", "missed", "Calls hung up before an answer, while waiting or ringing."),
    ("callcenter_calls_finished", "finished", "Answered calls that have ended."),
    (
        "callcenter_calls_answered_within_service_level",
        "answered_in_service_level",
        "Calls answered within the service level threshold (--service-level).",
    ),
    ("callcenter_rejects", "rejected", "Rings rejected by an operator (a call may be rejected more than once)."),
    (
        "callcenter_ring_timeouts",
        "ignored",
        "Rings left unanswered until the ring timeout (a call may time out more than once).",
    ),
    # Routing (docs/routing.md): queue limits.
    ("callcenter_calls_refused", "refused", "Calls refused because the queue was full (--max-queue)."),
    ("callcenter_calls_timed_out", "timed_out", "Calls that waited in the queue past --max-wait."),
)


# The events that end a ring, each with its ``ring`` seconds.
RING_ENDS = (CallRejected, CallIgnored, RingCanceled)


@implementer(IEventSubscriber)
class CallCenterMetrics(object):
    """The metrics of one server: a registry of its own, and the site that serves it."""

    def __init__(
        self,
        center: ICallCenterObserver,
        factory: CallCenterServerFactory,
        reactor: Any = None,
        disk: Optional[IDiskState] = None,
    ) -> None:
        """``center``: the call center whose figures are shown and whose events it hears (with
        ``--state-dir``, the durable one); ``factory``: the server's, for its clients and events; ``disk``: with
        ``--state-dir``, whether its directory takes writes.
        ``reactor`` runs the call center: scrapes, which run in its thread pool, read the
        figures in its thread. Without one, they are read in the scraping thread (tests)."""
        self.center = center
        self.disk = disk
        self.factory = factory
        self.reactor = reactor
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        self.wait = Histogram(
            "callcenter_wait_seconds",
            "Time from a call's arrival to its answer.",
            buckets=WAIT_BUCKETS,
            registry=self.registry,
        )
        self.ring = Histogram(
            "callcenter_ring_seconds",
            "Time a call rang for an operator, until answered, rejected, ignored or hung up.",
            buckets=RING_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(self)  # a collector: it has collect()
        center.subscribe(self)  # type: ignore[attr-defined]

    def heard(self, events: Sequence[Any], command: Optional[str]) -> None:
        """The call center's events: each answer's wait, and the time of each ring that ended."""
        for event in events:
            kind = type(event)
            if kind is CallAnswered:
                self.wait.observe(max(event.wait, 0.0))
                self.ring.observe(max(event.ring, 0.0))
            elif kind in RING_ENDS:
                self.ring.observe(max(event.ring, 0.0))

    def snapshot(self) -> Dict[str, Any]:
        """The figures at one instant, read in the reactor's thread (where they change)."""
        center = self.center
        head = center.queue.oldest()
        now = center.now()
        return {
            "figures": center.figures.to_dict(),
            "operators": Counter(operator.state for operator in center.operators),
            "waiting": len(center.queue),
            "oldest_wait": 0.0 if head is None else max(now - head.received_at, 0.0),
            # Routing: per operator that used presence, (paused by reason, wrap-up, logged in).
            "presence": [
                (operator.id, times)
                for operator, times in ((operator, presence_times(operator, now)) for operator in center.operators)
                if times is not None
            ],
            "clients": len(self.factory.clients),
            "events": self.factory.events_made,
            "degraded": self.disk is not None and self.disk.degraded is not None,
            "refused_for_disk": 0 if self.disk is None else self.disk.changes_refused,
            # With several queues (--queues): (name, figures, waiting, oldest wait) of each.
            "queues": [
                (
                    of_queue.name,
                    of_queue.figures.to_dict(),
                    len(of_queue.waiting),
                    0.0 if oldest is None else max(now - oldest.received_at, 0.0),
                )
                for of_queue, oldest in ((of_queue, of_queue.waiting.oldest()) for of_queue in center.queues)
            ]
            if len(center.queues) > 1
            else [],
        }

    def snapshot_from_thread(self) -> Dict[str, Any]:
        """``snapshot()`` run by the reactor, waited for at most SNAPSHOT_TIMEOUT seconds: a
        scrape caught by a shutdown fails instead of holding up the thread pool's join."""
        answer: "queue.Queue[Any]" = queue.Queue(1)

        def take() -> None:
            try:
                answer.put(self.snapshot())
            except Exception as error:  # handed to the scraping thread, which raises it
                answer.put(error)

        self.reactor.callFromThread(take)
        try:
            figures = answer.get(timeout=SNAPSHOT_TIMEOUT)
        except queue.Empty:
            raise RuntimeError("the reactor did not answer within %g s" % SNAPSHOT_TIMEOUT) from None
        if isinstance(figures, Exception):
            raise figures
        return figures

    def collect(self) -> Iterator[Metric]:
        """What prometheus_client asks for at each scrape, from a thread of the pool."""
        if self.reactor is None or threadable.isInIOThread():
            figures = self.snapshot()
        else:
            figures = self.snapshot_from_thread()
        for name, figure, documentation in CALL_COUNTERS:
            yield CounterMetricFamily(name, documentation, value=figures["figures"][figure])
        yield GaugeMetricFamily("callcenter_queue_length", "Calls waiting in the queue now.", value=figures["waiting"])
        if figures["queues"]:
            yield from queue_metrics(figures["queues"])
        yield GaugeMetricFamily(
            "callcenter_queue_oldest_wait_seconds",
            "How long the call at the head of the queue has waited (0 when the queue is empty).",
            value=figures["oldest_wait"],
        )
        operators = GaugeMetricFamily("callcenter_operators", "Operators by state now.", labels=["state"])
        for state in (AVAILABLE, RINGING, BUSY, PAUSED, LOGGED_OUT, WRAP_UP):
            operators.add_metric([state], figures["operators"][state])
        yield operators
        # Routing: time in each presence, per operator that was ever paused, out or in wrap-up.
        paused = CounterMetricFamily(
            "callcenter_operator_paused_seconds",
            "Time an operator spent paused, by reason.",
            labels=["operator", "reason"],
        )
        wrap_up = CounterMetricFamily(
            "callcenter_operator_wrap_up_seconds", "Time an operator spent in wrap-up.", labels=["operator"]
        )
        logged_in = CounterMetricFamily(
            "callcenter_operator_logged_in_seconds", "Time an operator spent logged in.", labels=["operator"]
        )
        for operator_id, (by_reason, wrap_up_seconds, logged_in_seconds) in figures["presence"]:
            for reason, seconds in sorted(by_reason.items()):
                paused.add_metric([operator_id, reason], max(seconds, 0.0))
            wrap_up.add_metric([operator_id], max(wrap_up_seconds, 0.0))
            logged_in.add_metric([operator_id], max(logged_in_seconds, 0.0))
        yield paused
        yield wrap_up
        yield logged_in
        yield GaugeMetricFamily("callcenter_clients_connected", "Clients connected now.", value=figures["clients"])
        yield CounterMetricFamily(
            "callcenter_events", "Ring-timeout events sent to the connected clients.", value=figures["events"]
        )
        yield GaugeMetricFamily(
            "callcenter_degraded",
            "1 while the state directory refuses writes (changes are refused, queries answered), else 0.",
            value=1 if figures["degraded"] else 0,
        )
        yield CounterMetricFamily(
            "callcenter_changes_refused_for_disk",
            "Changes rolled back or refused because the state directory refused their write.",
            value=figures["refused_for_disk"],
        )

    def resource(self) -> Any:
        """The resource that serves the metrics (at /metrics here or on the wallboard's site)."""
        from prometheus_client.twisted import MetricsResource  # imports the reactor: only when serving

        return MetricsResource(self.registry)

    def site(self) -> server.Site:
        """A web site with the metrics at /metrics and nothing else."""
        root = resource.Resource()
        root.putChild(b"metrics", self.resource())
        return QuietSite(root)


def queue_metrics(queues: "List[Tuple[str, Dict[str, Any], int, float]]") -> Iterator[Metric]:
    """With several queues: each call counter once more per queue (``callcenter_queue_`` and the
    total's name without ``callcenter_``, a ``queue`` label), and each queue's waiting calls."""
    for name, figure, documentation in CALL_COUNTERS:
        family = CounterMetricFamily(
            "callcenter_queue_" + name[len("callcenter_") :], documentation + " Per queue.", labels=["queue"]
        )
        for queue_name, queue_figures, _, _ in queues:
            family.add_metric([queue_name], queue_figures[figure])
        yield family
    waiting = GaugeMetricFamily("callcenter_queue_waiting", "Calls waiting now, per queue.", labels=["queue"])
    oldest = GaugeMetricFamily(
        "callcenter_queue_waiting_oldest_seconds",
        "How long the call waiting longest in each queue has waited (0 when it is empty).",
        labels=["queue"],
    )
    for queue_name, _, count, seconds in queues:
        waiting.add_metric([queue_name], count)
        oldest.add_metric([queue_name], seconds)
    yield waiting
    yield oldest


class QuietSite(server.Site):
    """A site that logs no line per request: a scrape every few seconds would fill the journal."""

    noisy = False

    def log(self, request: Any) -> None:
        pass
