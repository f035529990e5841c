"""Every provider of the declared seams (callcenter.interfaces) provides them whole."""

from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from zope.interface.verify import verifyObject

from callcenter.core.center import CallCenter
from callcenter.interfaces import (
    ICallCenter,
    ICallCenterObserver,
    IDiskState,
    IDurableOutput,
    IEventSource,
    IEventSubscriber,
)
from callcenter.store.durable import DurableCallCenter, DurableRelay


def test_the_core_is_a_call_center_that_tells_its_events_and_can_be_observed():
    center = CallCenter(["A", "B"], Clock().callLater, 10)
    assert verifyObject(ICallCenter, center)
    assert verifyObject(IEventSource, center)
    assert verifyObject(ICallCenterObserver, center)


def test_the_durable_center_is_a_call_center_whose_output_waits_for_the_disk(tmp_path):
    clock = Clock()
    durable = DurableCallCenter(str(tmp_path), ["A", "B"], clock.callLater, clock.seconds, 10)
    durable.restore()
    try:
        assert verifyObject(ICallCenter, durable)
        assert verifyObject(IEventSource, durable)
        assert verifyObject(IEventSubscriber, DurableRelay(durable))  # what it hears of its core
        assert verifyObject(IDurableOutput, durable)
        assert verifyObject(ICallCenterObserver, durable.center)
        assert verifyObject(ICallCenterObserver, durable)  # what --metrics and --web watch
        assert verifyObject(IDiskState, durable)
        assert durable.when_durable() is None  # nothing waits for the disk
        durable.execute("call", "1")
        waiting = durable.when_durable()
        assert waiting is not None and not waiting.called
        clock.advance(0)  # the group commit
        assert waiting.called and durable.when_durable() is None
    finally:
        durable.close()


def test_whatever_hears_the_events_is_a_subscriber():
    from callcenter.cli.output import StreamOutput
    from callcenter.cli.shell import PrintedEvents
    from callcenter.net.protocol import CallCenterServerFactory
    from callcenter.sim.simulate import Model, Replication, Segment
    from callcenter.web.metrics import CallCenterMetrics
    from callcenter.web.wallboard import Wallboard

    clock = Clock()
    center = CallCenter(["A", "B"], clock.callLater, 10, now=clock.seconds)
    factory = CallCenterServerFactory(center, clock.callLater)
    assert verifyObject(IEventSubscriber, factory)
    assert verifyObject(IEventSubscriber, Wallboard(center, clock.callLater, clock.seconds))
    assert verifyObject(IEventSubscriber, CallCenterMetrics(center, factory))
    assert verifyObject(IEventSubscriber, PrintedEvents(StreamOutput(StringTransport())))
    assert verifyObject(IEventSubscriber, Replication(Model([Segment(0, 60, 10)], ["A"], 30.0), 1))
    assert [type(subscriber).__name__ for subscriber in center.bus.subscribers] == [
        "CallCenterServerFactory",
        "Wallboard",
        "CallCenterMetrics",
    ]


def test_the_ami_and_the_queue_log_hear_the_events_as_subscribers():
    from callcenter.core.asterisk import Membership
    from callcenter.net.amievents import AmiEvents
    from callcenter.net.amiqueue import QueueView, default_configs
    from callcenter.store.queuelog import QueueLog, QueueLogLines

    clock = Clock()
    center = CallCenter(["A", "B"], clock.callLater, 10, now=clock.seconds)
    configs = default_configs(["A", "B"], "linear", 0, 0.0)
    assert verifyObject(IEventSubscriber, AmiEvents(QueueView(center, configs, 20.0, 0.0), lambda *sent: None))
    assert verifyObject(IEventSubscriber, QueueLog(QueueLogLines(Membership(configs)), None))


def test_both_shell_sessions_are_sessions():
    from twisted.internet.testing import MemoryReactor

    from callcenter.cli.console import PipeSession, TerminalSession
    from callcenter.cli.output import StreamOutput
    from callcenter.interfaces import IShellSession

    assert verifyObject(IShellSession, TerminalSession(MemoryReactor()))
    # A pipe session opens the process's own stdin and stdout: its output is put in by hand.
    pipe = PipeSession.__new__(PipeSession)
    pipe.output = StreamOutput(StringTransport())
    assert verifyObject(IShellSession, pipe)


def test_the_twisted_interfaces_the_app_declares_are_provided():
    from twisted.internet import interfaces as twisted_interfaces
    from twisted.internet.endpoints import TCP4ServerEndpoint
    from twisted.internet.testing import MemoryReactorClock

    from callcenter.cli.console import Hold, LineConsole
    from callcenter.wiring.descriptors import GuardedEndpoint
    from callcenter.wiring.tls_sniffing import PlainClientAnsweringReactor

    reactor = MemoryReactorClock()
    assert verifyObject(
        twisted_interfaces.IStreamServerEndpoint, GuardedEndpoint(TCP4ServerEndpoint(reactor, 0), reactor)
    )
    assert verifyObject(twisted_interfaces.IReactorSSL, PlainClientAnsweringReactor(reactor))
    console = LineConsole(None, None, None)
    assert verifyObject(twisted_interfaces.IHalfCloseableProtocol, console)
    assert verifyObject(twisted_interfaces.IPushProducer, Hold(console, "stdout"))
