"""``callcenter-server`` and the service behind ``twistd callcenter``."""

import sys
from typing import Any, List, Optional

from twisted.application import internet, service
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


def make_factory(options: ServerOptions, reactor: object) -> CallCenterServerFactory:
    return CallCenterServerFactory(
        options["operators"],
        reactor.callLater,  # type: ignore[attr-defined]
        options["ring-timeout"],
        max_output_buffer=options["max-output-buffer"],
        max_connections=options["max-connections"],
        auth_token=options["auth-token"],
    )


def make_endpoint(options: ServerOptions, reactor: Any) -> GuardedEndpoint:
    return GuardedEndpoint(endpoints.serverFromString(reactor, options["listen"]), reactor)


# What twistd's plugin (twisted/plugins/callcenter_plugin.py) looks up in this module.
Options = ServerOptions


def makeService(options: ServerOptions) -> service.IService:
    """The server as a service: what ``twistd callcenter`` runs."""
    from twisted.internet import reactor

    listening = internet.StreamServerEndpointService(make_endpoint(options, reactor), make_factory(options, reactor))
    # As strports.service does: a port that cannot be had stops twistd with its error.
    listening._raiseSynchronously = True
    return listening


def describe(options: ServerOptions) -> str:
    return "operators %s, ring timeout %s, at most %d connections, authentication %s" % (
        ",".join(options["operators"]) if len(options["operators"]) <= 10 else "%d" % len(options["operators"]),
        "off" if not options["ring-timeout"] else "%g s" % options["ring-timeout"],
        options["max-connections"],
        "off" if options["auth-token"] is None else "on",
    )


@defer.inlineCallbacks
def serve(reactor: Any, options: ServerOptions) -> Any:
    """Listen until the process is stopped (SIGINT or SIGTERM)."""
    try:
        port = yield make_endpoint(options, reactor).listen(make_factory(options, reactor))
    except Exception as error:
        log.critical("Cannot listen on {listen}: {error}", listen=options["listen"], error=error)
        raise SystemExit(1) from None
    log.info("Call center listening on {address}, {config}", address=port.getHost(), config=describe(options))
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
