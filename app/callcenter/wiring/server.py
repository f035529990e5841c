"""``callcenter-server`` and the service behind ``twistd callcenter``.

Layer: wiring. It builds the call center (the core, or the durable one around it with
``--state-dir``), hands it to the protocol's factory, the core to the metrics and the wallboard, and listens.
"""

import atexit
import os
import signal
import sys
from typing import Any, List, Optional, Tuple

from twisted.application import internet, service, strports
from twisted.internet import defer, endpoints, threads
from twisted.logger import (
    FilteringLogObserver,
    Logger,
    LogLevel,
    LogLevelFilterPredicate,
    globalLogBeginner,
    textFileLogObserver,
)
from twisted.python.failure import Failure

from callcenter.cli.arguments import parse_or_exit, routing_options
from callcenter.core.asterisk import Membership, arrival_of
from callcenter.core.center import CallCenter
from callcenter.core.queues import QueueConfig
from callcenter.net.amiqueue import default_configs
from callcenter.net.protocol import CallCenterServerFactory
from callcenter.net.twisted_internals import (
    exit_zero_after_a_clean_stop,
    quiet_http_client_connections,
    raise_listen_errors_at_start,
)
from callcenter.store.durable import DurableCallCenter
from callcenter.store.journal import DEFAULT_JOURNAL_LIMIT, StateError
from callcenter.store.queuelog import QueueLog, QueueLogFile, QueueLogLines, queue_start
from callcenter.wiring.descriptors import GuardedEndpoint
from callcenter.wiring.options import ServerOptions, is_tls
from callcenter.wiring.timers import ReactorTimers
from callcenter.wiring.tls_sniffing import endpoint_reactor

log = Logger()


def report_subscriber_failure(subscriber: Any, error: BaseException) -> None:
    """How the server's call center tells of an event subscriber that raised (once each)."""
    log.failure(
        "An event subscriber ({subscriber!r}) failed; it is told of later events still",
        Failure(error, type(error), error.__traceback__),
        subscriber=subscriber,
    )


def open_state(options: ServerOptions, reactor: Any) -> Optional[DurableCallCenter]:
    """The restored state when ``--state-dir`` is given; :class:`StateError` when it cannot be."""
    if not options["state-dir"]:
        return None
    durable = DurableCallCenter(
        options["state-dir"],
        options["operators"],
        reactor.callLater,
        reactor.seconds,
        options["ring-timeout"],
        options["journal-limit"],
        service_level=options["service-level"],
        report=report_subscriber_failure,
        **routing_options(options),
    )
    durable.restore()
    durable.sync_in_thread = threads.deferToThread  # the reactor goes on while the disk syncs
    return durable


def open_replicated(options: ServerOptions, reactor: Any) -> Any:
    """The replicated call center when ``--etcd`` is given (not started: see its ``start``)."""
    if not options["etcd"]:
        return None
    from callcenter.store.etcd import EtcdClient
    from callcenter.store.replicated import DEFAULT_SNAPSHOT_LIMIT, ReplicatedCallCenter

    quiet_http_client_connections()
    ttl = options["etcd-lease"]
    # A commit not answered within a third of the lease goes to the next member: time for
    # two more before the lease would lapse.
    client = EtcdClient(reactor, options["etcd"], timeout=max(0.5, ttl / 3.0), credentials=options["etcd-credentials"])
    limit = options["journal-limit"]
    return ReplicatedCallCenter(
        client,
        options["etcd-prefix"],
        options["etcd-name"],
        options["operators"],
        reactor.callLater,
        reactor.seconds,
        options["ring-timeout"],
        snapshot_limit=DEFAULT_SNAPSHOT_LIMIT if limit == DEFAULT_JOURNAL_LIMIT else limit,
        lease_ttl=ttl,
        service_level=options["service-level"],
        report=report_subscriber_failure,
        **routing_options(options),
    )


def make_core(options: ServerOptions, reactor: Any, durable: Optional[DurableCallCenter]) -> CallCenter:
    """The core call center: the restored one inside ``durable``, or a new one."""
    if durable is not None:
        return durable.center
    return CallCenter(
        options["operators"],
        ReactorTimers(reactor.callLater, reactor.seconds).call_later,  # a ring's timer costs no DelayedCall
        options["ring-timeout"],
        now=reactor.seconds,
        service_level=options["service-level"],
        report=report_subscriber_failure,
        **routing_options(options),
    )


def make_factory(
    options: ServerOptions, reactor: Any, core: CallCenter, durable: Any, leadership: Any = None
) -> CallCenterServerFactory:
    """The factory of the clients' connections, on ``durable`` (the durable or the replicated
    call center) when there is one, else on ``core``; ``leadership``: the replicated one."""
    return CallCenterServerFactory(
        core if durable is None else durable,
        reactor.callLater,
        max_output_buffer=options["max-output-buffer"],
        max_connections=options["max-connections"],
        auth_token=options["auth-token"],
        durable_output=durable,
        auth_timeout=options["auth-timeout"],
        max_unauthenticated=options["max-unauthenticated"],
        leadership=leadership,
    )


def ami_factory(
    options: ServerOptions, reactor: Any, core: CallCenter, durable: Any, leadership: Any = None
) -> Optional[Any]:
    """The factory of ``--ami``'s connections, acting on the same call center as the JSON
    port's and, like it, closing its clients when ``leadership`` (the replicated center)
    stops leading; None without ``--ami``."""
    if not options["ami"]:
        return None
    from callcenter.net.ami import AmiFactory
    from callcenter.net.amievents import AmiEvents
    from callcenter.net.amiqueue import QueueView

    view = QueueView(observed(core, durable), queue_configs(options), options["service-level"], options["wrap-up"])
    factory = AmiFactory(
        core if durable is None else durable,
        view,
        options["ami-user-table"],
        reactor.callLater,
        reactor.seconds,
        max_output_buffer=options["max-output-buffer"],
        max_connections=options["max-connections"],
        auth_timeout=options["auth-timeout"],
        max_unauthenticated=options["max-unauthenticated"],
        durable_output=durable,
        leadership=leadership,
    )
    # Like the JSON port's clients, it hears each event once it is durable.
    (core if durable is None else durable).subscribe(AmiEvents(view, factory.broadcast, factory.hears))
    return factory


def queue_configs(options: ServerOptions) -> List[QueueConfig]:
    """The queues' settings: ``--queues``, or the one queue of ``--operators``."""
    return options["queues"] or default_configs(
        options["operators"], options["strategy"], options["max-queue"], options["max-wait"]
    )


def warn_queue_log(message: str) -> None:
    log.warn("{message}", message=message)


def open_queue_log(options: ServerOptions, reactor: Any, core: CallCenter, durable: Any) -> None:
    """``--queue-log``: its file opened for appending, ``QUEUESTART`` written, the lines of
    each event appended once it is durable (with the replicated center, on every server: the
    leader's confirmed commits and those every server applies from etcd, each once, so that
    whichever leads after a takeover holds the whole history; docs/ha.md), the file reopened
    on SIGHUP (logrotate) and closed at the end. OSError when it cannot be opened."""
    if not options["queue-log"]:
        return
    output = QueueLogFile(options["queue-log"], reactor.callLater, warn_queue_log)
    output.write([queue_start(reactor.seconds())])
    center = observed(core, durable)
    lines = QueueLogLines(Membership(queue_configs(options)), lambda call_id: arrival_of(center, call_id))
    (core if durable is None else durable).subscribe(QueueLog(lines, output))
    signal.signal(signal.SIGHUP, lambda number, frame: reactor.callFromThread(output.reopen))
    reactor.addSystemEventTrigger("after", "shutdown", output.close)


def make_endpoint(reactor: Any, description: str) -> GuardedEndpoint:
    """The endpoint both entry points listen with: accepting paused when out of file
    descriptors (descriptors.py), a plain client of a TLS port answered (tls_sniffing.py)."""
    return GuardedEndpoint(endpoints.serverFromString(endpoint_reactor(reactor, description), description), reactor)


def metrics_of(
    core: Any, factory: CallCenterServerFactory, reactor: Any, disk: Optional[DurableCallCenter] = None
) -> Any:
    """The metrics of ``--metrics``, watching the core call center (``ICallCenterObserver``),
    ``factory``'s clients and, with ``--state-dir``, whether the disk takes writes."""
    from callcenter.web.metrics import CallCenterMetrics  # prometheus_client only when asked for

    return CallCenterMetrics(core, factory, reactor, disk)


def observed(core: CallCenter, durable: Any) -> Any:
    """What the metrics and the wallboard watch: the core, or the durable (or replicated)
    call center, whose core a rollback (or a takeover) replaces."""
    return core if durable is None else durable


def web_sites(
    options: ServerOptions,
    core: CallCenter,
    factory: CallCenterServerFactory,
    reactor: Any,
    durable: Any = None,
) -> List[Tuple[str, Any]]:
    """(endpoint, site) of ``--web`` and ``--metrics``, both watching the call center:
    one site when they name the same endpoint."""
    sites = []
    metrics = None
    center = observed(core, durable)
    if options["metrics"]:
        metrics = metrics_of(center, factory, reactor, durable)
    if options["web"]:
        from callcenter.web.wallboard import Wallboard, wallboard_site

        wallboard = Wallboard(
            center, reactor.callLater, reactor.seconds, options["max-output-buffer"], options["auth-token"]
        )
        shared = metrics is not None and options["metrics"] == options["web"]
        site = wallboard_site(wallboard, options["max-web-clients"], metrics.resource() if metrics and shared else None)
        sites.append((options["web"], site))
        if shared:
            metrics = None
    if metrics is not None:
        sites.append((options["metrics"], metrics.site()))
    return sites


class CleanStop(service.Service):
    """SIGTERM or SIGINT: stop listening, answer what was read, make the journal durable,
    write the snapshot, close the connections; each step logged once. A client that does
    not let its connection close within a second is cut off, so the whole takes under 2 s."""

    CLOSE_WAIT = 1.0  # seconds for clients to take their last bytes before being cut off
    POLL = 0.02

    def __init__(
        self,
        reactor: Any,
        factory: CallCenterServerFactory,
        durable: Optional[DurableCallCenter],
        replicated: Any = None,
    ) -> None:
        self.reactor = reactor
        self.factory = factory
        self.durable = durable
        self.replicated = replicated
        self.ports: List[Any] = []  # twistd's own service stops its port before this one
        self.other_factories: List[Any] = []  # --ami's: its connections are closed too

    def stopService(self) -> Any:
        service.Service.stopService(self)
        exit_zero_after_a_clean_stop(self.reactor)
        return self.stop()

    def stop(self) -> Any:
        # Waited for: a port's factory stops (and logs its last counts) once the port is closed.
        stopped = [defer.maybeDeferred(port.stopListening) for port in self.ports]
        clients = list(self.factory.clients)
        for client in clients:
            client.stop_reading()
        for other in self.other_factories:
            clients.extend(other.clients)
        return defer.gatherResults(stopped).addCallback(lambda _: self._stopped_listening(clients))

    def _stopped_listening(self, clients: List[Any]) -> Any:
        log.info("Shutdown: stopped listening")
        durable = self.durable
        replicated = self.replicated
        if replicated is not None:
            return (
                replicated.idle()
                .addCallback(lambda _: self._hand_over(replicated))
                .addCallback(lambda _: self._close(clients))
            )
        if durable is None:
            return self._close(clients)
        return durable.idle().addCallback(lambda _: self._save(durable)).addCallback(lambda _: self._close(clients))

    def _save(self, durable: DurableCallCenter) -> None:
        """The last commit, the snapshot, the directory released."""
        if durable.degraded is not None:
            log.warn(
                "Shutdown: {dir} refuses writes ({reason}): the state on disk, which the next start "
                "restores, is the one served since",
                dir=durable.directory,
                reason=durable.degraded,
            )
        else:
            sent = durable.flush()
            log.info("Shutdown: answered the requests already read ({sent} messages waited for the journal)", sent=sent)
            log.info(
                "Shutdown: journal on disk ({records} records in {commits} writes since the start)",
                records=durable.records_written,
                commits=durable.commits,
            )
            try:
                calls = durable.compact()
            except OSError as error:
                log.error("Shutdown: cannot write the snapshot ({error}); the journal keeps the state", error=error)
            else:
                log.info("Shutdown: snapshot of {calls} calls written to {dir}", calls=calls, dir=durable.directory)
        durable.close()

    def _hand_over(self, replicated: Any) -> Any:
        """The last commit is in etcd; the lease revoked, so that a standby leads at once."""
        leading = replicated.role_line() == "leader"
        log.info(
            "Shutdown: {records} records in {commits} commits to etcd since the start{handing}",
            records=replicated.records_written,
            commits=replicated.commits,
            handing="; handing the leadership over" if leading else "",
        )
        return replicated.close()

    def _close(self, clients: List[Any]) -> Any:
        for client in clients:
            client.transport.loseConnection()
        return self._closed(len(clients))

    def _closed(self, count: int) -> Any:
        finished: "defer.Deferred[None]" = defer.Deferred()
        began = self.reactor.seconds()
        aborted: List[Any] = []

        def check() -> None:
            waited = self.reactor.seconds() - began
            remaining = list(self.factory.clients)
            for other in self.other_factories:
                remaining.extend(other.clients)
            if remaining and waited < self.CLOSE_WAIT * 1.5:
                if waited >= self.CLOSE_WAIT and not aborted:
                    aborted.extend(remaining)
                    for client in aborted:
                        client.transport.abortConnection()
                self.reactor.callLater(self.POLL, check)
                return
            log.info(
                "Shutdown: closed {count} connections{aborted}",
                count=count,
                aborted=" (%d cut off: not reading)" % len(aborted) if aborted else "",
            )
            finished.callback(None)

        check()
        return finished


# What twistd's plugin (twisted/plugins/callcenter_plugin.py) looks up in this module.
Options = ServerOptions


def makeService(options: ServerOptions) -> service.IService:
    """The server as a service: what ``twistd callcenter`` runs."""
    from twisted.internet import reactor

    if options["etcd"]:
        return ReplicatedService(reactor, options)
    try:
        durable = open_state(options, reactor)
    except StateError as error:
        raise SystemExit("twistd callcenter: error: %s" % error) from None
    core = make_core(options, reactor, durable)
    factory = make_factory(options, reactor, core, durable)
    try:
        open_queue_log(options, reactor, core, durable)
    except OSError as error:
        raise SystemExit(
            "twistd callcenter: error: cannot open the queue_log %s: %s" % (options["queue-log"], error.strerror)
        ) from None
    if durable is not None:
        durable.on_lost_state = lambda message: stop_with_status_one(reactor)
    top = service.MultiService()
    stopper = CleanStop(reactor, factory, durable)
    stopper.setServiceParent(top)
    add_ports(top, options, reactor, core, durable, factory, stopper)
    return top


def add_ports(
    parent: service.MultiService,
    options: ServerOptions,
    reactor: Any,
    core: CallCenter,
    store: Any,
    factory: CallCenterServerFactory,
    stopper: "CleanStop",
    leadership: Any = None,
) -> None:
    """twistd's ports as services of ``parent``, after ``stopper`` (so stopped before it): the
    JSON port, ``--ami``'s, ``--web``'s and ``--metrics``'; a port that cannot be had stops
    twistd with its error."""
    listening = internet.StreamServerEndpointService(make_endpoint(reactor, options["listen"]), factory)
    raise_listen_errors_at_start(listening)
    listening.setServiceParent(parent)
    ami = ami_factory(options, reactor, core, store, leadership)
    if ami is not None:
        stopper.other_factories.append(ami)
        ami_listening = internet.StreamServerEndpointService(make_endpoint(reactor, options["ami"]), ami)
        raise_listen_errors_at_start(ami_listening)
        ami_listening.setServiceParent(parent)
    for endpoint, site in web_sites(options, core, factory, reactor, store):
        strports.service(endpoint, site).setServiceParent(parent)


class ReplicatedService(service.MultiService):
    """``twistd callcenter --etcd``: the state is read from etcd first, then the ports open,
    as ``callcenter-server`` does (a port that cannot be had then stops the process, exit 1)."""

    def __init__(self, reactor: Any, options: ServerOptions) -> None:
        service.MultiService.__init__(self)
        self.reactor = reactor
        self.options = options
        self.replicated = open_replicated(options, reactor)

    def startService(self) -> None:
        service.Service.startService(self)
        self.replicated.start().addCallback(self._state_read).addErrback(self._failed)

    def _state_read(self, center: CallCenter) -> None:
        options, reactor, replicated = self.options, self.reactor, self.replicated
        factory = make_factory(options, reactor, center, replicated, leadership=replicated)
        open_queue_log(options, reactor, center, replicated)
        stopper = CleanStop(reactor, factory, None, replicated)
        stopper.setServiceParent(self)
        add_ports(self, options, reactor, center, replicated, factory, stopper, replicated)

    def _failed(self, failure: Any) -> None:
        log.failure("Cannot start", failure)
        stop_with_status_one(self.reactor)


def describe(options: ServerOptions) -> str:
    return "operators %s, ring timeout %s, at most %d connections, authentication %s, %s" % (
        ",".join(options["operators"]) if len(options["operators"]) <= 10 else "%d" % len(options["operators"]),
        "off" if not options["ring-timeout"] else "%g s" % options["ring-timeout"],
        options["max-connections"],
        "off" if options["auth-token"] is None else "on",
        state_description(options),
    )


def state_description(options: ServerOptions) -> str:
    if options["etcd"]:
        return "state in etcd at %s under %s as %s" % (
            ",".join(options["etcd"]),
            options["etcd-prefix"],
            options["etcd-name"],
        )
    return "state in %s" % options["state-dir"] if options["state-dir"] else "state in memory only"


@defer.inlineCallbacks
def listen(reactor: Any, description: str, factory: Any) -> Any:
    """The listening port for an endpoint string; the process exits 1 if it cannot listen."""
    try:
        port = yield make_endpoint(reactor, description).listen(factory)
    except Exception as error:
        log.critical("Cannot listen on {listen}: {error}", listen=description, error=error)
        raise SystemExit(1) from None
    return port


@defer.inlineCallbacks
def serve(reactor: Any, options: ServerOptions) -> Any:
    """Listen until the process is stopped (SIGINT or SIGTERM), then stop cleanly."""
    try:
        durable = open_state(options, reactor)
    except StateError as error:
        log.critical("{error}", error=error)
        raise SystemExit(1) from None
    replicated = open_replicated(options, reactor)
    if replicated is not None:
        core = yield replicated.start()
    else:
        core = make_core(options, reactor, durable)
    store = durable if replicated is None else replicated
    factory = make_factory(options, reactor, core, store, leadership=replicated)
    try:
        open_queue_log(options, reactor, core, store)
    except OSError as error:
        log.critical("Cannot open the queue_log {path}: {error}", path=options["queue-log"], error=error.strerror)
        raise SystemExit(1) from None
    port = yield listen(reactor, options["listen"], factory)
    log.info("Call center listening on {address}, {config}", address=port.getHost(), config=describe(options))
    stopper = CleanStop(reactor, factory, durable, replicated)
    stopper.ports.append(port)
    ami = ami_factory(options, reactor, core, store, replicated)
    if ami is not None:
        ami_port = yield listen(reactor, options["ami"], ami)
        stopper.ports.append(ami_port)
        stopper.other_factories.append(ami)
        log.info("Asterisk Manager Interface on {address}", address=ami_port.getHost())
    for endpoint, site in web_sites(options, core, factory, reactor, store):
        web_port = yield listen(reactor, endpoint, site)
        stopper.ports.append(web_port)
        address = web_port.getHost()
        scheme = "https" if is_tls(endpoint) else "http"
        if endpoint == options["web"]:
            log.info("Wallboard on {scheme}://{host}:{port}/", scheme=scheme, host=address.host, port=address.port)
        if endpoint == options["metrics"]:
            log.info(
                "Prometheus metrics on {scheme}://{host}:{port}/metrics",
                scheme=scheme,
                host=address.host,
                port=address.port,
            )
    reactor.addSystemEventTrigger("before", "shutdown", stopper.stop)
    lost: "defer.Deferred[None]" = defer.Deferred()  # fires only when the state cannot be read back
    if durable is not None:
        durable.on_lost_state = lambda message: lost.errback(SystemExit(1))  # called at most once
    yield lost


def stop_with_status_one(reactor: Any) -> None:
    """twistd's way of ``callcenter-server``'s exit 1: stop, and once twistd has done its own
    cleanup (pid file, logs), exit 1; twistd itself has no exit status but 0 or a signal."""
    if reactor.running:
        atexit.register(exit_one)
        reactor.stop()


def exit_one() -> None:
    sys.stdout.flush()
    os._exit(1)


def start_logging() -> None:
    """Log lines on stdout (journald keeps them under systemd); debug events are dropped."""
    observer = FilteringLogObserver(
        textFileLogObserver(sys.stdout), [LogLevelFilterPredicate(defaultLogLevel=LogLevel.info)]
    )
    globalLogBeginner.beginLoggingTo([observer], redirectStandardIO=False)


def main(argv: Optional[List[str]] = None) -> None:
    from twisted.internet import task

    options = parse_or_exit(ServerOptions(), sys.argv[1:] if argv is None else argv)
    start_logging()
    task.react(serve, (options,))
