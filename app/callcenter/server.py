"""``callcenter-server`` and the service behind ``twistd callcenter``."""

import sys
from typing import Any, List, Optional

from twisted.application import internet, service, strports
from twisted.internet import defer, endpoints
from twisted.logger import (
    FilteringLogObserver,
    Logger,
    LogLevel,
    LogLevelFilterPredicate,
    globalLogBeginner,
    textFileLogObserver,
)

from callcenter.limits import GuardedEndpoint
from callcenter.options import ServerOptions, parse_or_exit
from callcenter.protocol import CallCenterServerFactory

log = Logger()


def make_factory(options: ServerOptions, reactor: Any) -> CallCenterServerFactory:
    return CallCenterServerFactory(
        options["operators"],
        reactor.callLater,
        options["ring-timeout"],
        max_output_buffer=options["max-output-buffer"],
        max_connections=options["max-connections"],
        auth_token=options["auth-token"],
        now=reactor.seconds,
        service_level=options["service-level"],
    )


def make_endpoint(reactor: Any, description: str) -> GuardedEndpoint:
    return GuardedEndpoint(endpoints.serverFromString(reactor, description), reactor)


def metrics_site(factory: CallCenterServerFactory, reactor: Any) -> Any:
    """The web site of ``--metrics``, watching ``factory``'s call center."""
    from callcenter.metrics import CallCenterMetrics  # prometheus_client only when asked for

    return CallCenterMetrics(factory, reactor).site()


# What twistd's plugin (twisted/plugins/callcenter_plugin.py) looks up in this module.
Options = ServerOptions


def makeService(options: ServerOptions) -> service.IService:
    """The server as a service: what ``twistd callcenter`` runs."""
    from twisted.internet import reactor

    factory = make_factory(options, reactor)
    server = internet.StreamServerEndpointService(make_endpoint(reactor, options["listen"]), factory)
    # As strports.service does: a port that cannot be had stops twistd with its error.
    server._raiseSynchronously = True
    if not options["metrics"]:
        return server
    both = service.MultiService()
    server.setServiceParent(both)
    strports.service(options["metrics"], metrics_site(factory, reactor)).setServiceParent(both)
    return both


def describe(options: ServerOptions) -> str:
    return "operators %s, ring timeout %s, at most %d connections, authentication %s" % (
        ",".join(options["operators"]) if len(options["operators"]) <= 10 else "%d" % len(options["operators"]),
        "off" if not options["ring-timeout"] else "%g s" % options["ring-timeout"],
        options["max-connections"],
        "off" if options["auth-token"] is None else "on",
    )


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
    """Listen until the process is stopped (SIGINT or SIGTERM)."""
    factory = make_factory(options, reactor)
    port = yield listen(reactor, options["listen"], factory)
    log.info("Call center listening on {address}, {config}", address=port.getHost(), config=describe(options))
    if options["metrics"]:
        port = yield listen(reactor, options["metrics"], metrics_site(factory, reactor))
        address = port.getHost()
        log.info("Prometheus metrics on http://{host}:{port}/metrics", host=address.host, port=address.port)
    yield defer.Deferred()  # never fires: the reactor stops on a signal


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
