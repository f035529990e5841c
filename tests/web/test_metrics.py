"""The Prometheus metrics: the registry read as a scrape would, parsed by prometheus_client's own parser."""

import queue
import threading

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport

from callcenter.core.center import CallCenter
from callcenter.net.protocol import CallCenterServerFactory
from callcenter.net.wire import encode_request
from callcenter.web.metrics import CallCenterMetrics


def samples(metrics):
    """{(sample name, sorted labels): value} of one scrape of the registry."""
    text = generate_latest(metrics.registry).decode("utf-8")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_the_figures_the_histograms_the_clients_and_the_process():
    clock = Clock()
    factory = CallCenterServerFactory(
        CallCenter(["A", "B"], clock.callLater, 10, now=clock.seconds, service_level=20), clock.callLater
    )
    metrics = CallCenterMetrics(factory.center, factory)
    connection = factory.buildProtocol(None)
    connection.makeConnection(StringTransport())
    for command, argument in [("call", "1"), ("call", "2"), ("call", "3"), ("call", "4")]:
        connection.dataReceived(encode_request(command, argument))
    clock.advance(3)
    connection.dataReceived(encode_request("answer", "A"))  # call 1: waited 3 s, rang 3 s
    connection.dataReceived(encode_request("reject", "B"))  # call 2 rings B again (rang 3 s)
    connection.dataReceived(encode_request("hangup", "4"))  # missed while waiting
    clock.advance(10)  # B's ring times out: an event, and B rings again (rang 10 s)
    connection.dataReceived(encode_request("hangup", "1"))  # finished; A takes call 3
    scraped = samples(metrics)

    def value(name, **labels):
        return scraped[(name, tuple(sorted(labels.items())))]

    assert value("callcenter_calls_received_total") == 4
    assert value("callcenter_calls_answered_total") == 1
    assert value("callcenter_calls_answered_within_service_level_total") == 1
    assert value("callcenter_calls_missed_total") == 1
    assert value("callcenter_calls_finished_total") == 1
    assert value("callcenter_rejects_total") == 1
    assert value("callcenter_ring_timeouts_total") == 1
    assert value("callcenter_queue_length") == 0
    assert value("callcenter_queue_oldest_wait_seconds") == 0
    assert value("callcenter_operators", state="available") == 0
    assert value("callcenter_operators", state="ringing") == 2
    assert value("callcenter_operators", state="busy") == 0
    assert value("callcenter_clients_connected") == 1
    assert value("callcenter_events_total") == 1
    assert value("callcenter_wait_seconds_count") == 1
    assert value("callcenter_wait_seconds_sum") == 3
    assert value("callcenter_wait_seconds_bucket", le="1.0") == 0
    assert value("callcenter_wait_seconds_bucket", le="5.0") == 1
    assert value("callcenter_ring_seconds_count") == 3
    assert value("callcenter_ring_seconds_sum") == 16
    assert value("callcenter_ring_seconds_bucket", le="5.0") == 2
    assert value("callcenter_ring_seconds_bucket", le="10.0") == 3
    # The library's own process metrics are there too.
    assert value("process_cpu_seconds_total") > 0
    assert any(name == "python_info" for name, _ in scraped)


def test_the_oldest_wait_is_the_head_of_the_queue():
    clock = Clock()
    factory = CallCenterServerFactory(CallCenter(["A"], clock.callLater, 0, now=clock.seconds), clock.callLater)
    metrics = CallCenterMetrics(factory.center, factory)
    factory.center.call("1")
    clock.advance(2)
    factory.center.call("2")
    clock.advance(5)
    scraped = samples(metrics)
    assert scraped[("callcenter_queue_length", ())] == 1
    assert scraped[("callcenter_queue_oldest_wait_seconds", ())] == 5


class HandOverReactor(object):
    """Stands in for the reactor's callFromThread: the test's thread runs what it is handed."""

    def __init__(self):
        self.handed = queue.Queue()

    def callFromThread(self, function, *args):
        self.handed.put((function, args))


def test_a_scrape_from_the_thread_pool_reads_the_figures_in_the_reactors_thread(monkeypatch):
    from callcenter.web import metrics as metrics_module

    clock = Clock()
    factory = CallCenterServerFactory(CallCenter(["A"], clock.callLater, 0, now=clock.seconds), clock.callLater)
    factory.center.call("1")
    reactor = HandOverReactor()
    metrics = CallCenterMetrics(factory.center, factory, reactor)
    monkeypatch.setattr(metrics_module.threadable, "isInIOThread", lambda: False)
    results = []
    scraper = threading.Thread(target=lambda: results.append(samples(metrics)))
    scraper.start()
    function, args = reactor.handed.get(timeout=10)  # nothing read until the "reactor" runs it
    assert results == []
    function(*args)
    scraper.join(10)
    assert results[0][("callcenter_calls_received_total", ())] == 1


def test_a_scrape_the_reactor_never_answers_fails_instead_of_hanging(monkeypatch):
    from callcenter.web import metrics as metrics_module

    clock = Clock()
    factory = CallCenterServerFactory(CallCenter(["A"], clock.callLater, 0, now=clock.seconds), clock.callLater)
    metrics = CallCenterMetrics(factory.center, factory, HandOverReactor())
    monkeypatch.setattr(metrics_module.threadable, "isInIOThread", lambda: False)
    monkeypatch.setattr(metrics_module, "SNAPSHOT_TIMEOUT", 0.01)
    with pytest.raises(RuntimeError, match="the reactor did not answer"):
        generate_latest(metrics.registry)


def test_refused_and_timed_out_calls_and_the_time_in_each_presence():
    clock = Clock()
    factory = CallCenterServerFactory(
        CallCenter(["A", "B"], clock.callLater, 0, now=clock.seconds, wrap_up=5, max_queue=1, max_wait=30),
        clock.callLater,
    )
    metrics = CallCenterMetrics(factory.center, factory)
    connection = factory.buildProtocol(None)
    connection.makeConnection(StringTransport())
    for command, argument in [("pause", "B lunch"), ("call", "1"), ("answer", "A"), ("call", "2"), ("call", "3")]:
        connection.dataReceived(encode_request(command, argument))
    clock.advance(30)  # call 2 times out
    connection.dataReceived(encode_request("hangup", "1"))  # A in wrap-up for 5 s
    clock.advance(5)  # (a Clock runs what is due at the end of each advance)
    clock.advance(5)
    scraped = samples(metrics)

    def value(name, **labels):
        return scraped[(name, tuple(sorted(labels.items())))]

    assert value("callcenter_calls_refused_total") == 1
    assert value("callcenter_calls_timed_out_total") == 1
    assert value("callcenter_operators", state="paused") == 1
    assert value("callcenter_operators", state="available") == 1
    assert value("callcenter_operator_paused_seconds_total", operator="B", reason="lunch") == 40
    assert value("callcenter_operator_logged_in_seconds_total", operator="B") == 40
    assert value("callcenter_operator_wrap_up_seconds_total", operator="A") == 5
    assert not [
        key for key in scraped if key[0] == "callcenter_operator_paused_seconds_total" and ("operator", "A") in key[1]
    ]


def test_several_queues_have_their_counters_and_waiting_calls_under_a_queue_label():
    from callcenter.core.queues import parse_queues

    clock = Clock()
    queues = parse_queues("[sales]\noperators = A\n[support]\noperators = A\n")
    center = CallCenter((), clock.callLater, 0, now=clock.seconds, queues=queues)
    factory = CallCenterServerFactory(center, clock.callLater)
    metrics = CallCenterMetrics(center, factory)
    center.execute("call", "1")
    center.execute("call", "2 queue=support")
    clock.advance(4)
    center.execute("call", "3 queue=support")
    center.execute("answer", "A")
    scraped = samples(metrics)
    assert scraped[("callcenter_calls_received_total", ())] == 3
    assert scraped[("callcenter_queue_calls_received_total", (("queue", "sales"),))] == 1
    assert scraped[("callcenter_queue_calls_received_total", (("queue", "support"),))] == 2
    assert scraped[("callcenter_queue_calls_answered_total", (("queue", "sales"),))] == 1
    assert scraped[("callcenter_queue_calls_answered_total", (("queue", "support"),))] == 0
    assert scraped[("callcenter_queue_length", ())] == 2
    assert scraped[("callcenter_queue_waiting", (("queue", "sales"),))] == 0
    assert scraped[("callcenter_queue_waiting", (("queue", "support"),))] == 2
    assert scraped[("callcenter_queue_waiting_oldest_seconds", (("queue", "support"),))] == 4


def test_one_queue_has_no_queue_label():
    clock = Clock()
    factory = CallCenterServerFactory(CallCenter(["A"], clock.callLater, 0, now=clock.seconds), clock.callLater)
    scraped = samples(CallCenterMetrics(factory.center, factory))
    assert not any("queue" in dict(labels) for _, labels in scraped)
    assert not any(name.startswith("callcenter_queue_calls") for name, _ in scraped)
