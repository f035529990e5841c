"""Several servers for one call center (``--connect`` repeated, or a list in ``$CALLCENTER_CONNECT``):
the clients connect to the one that leads (``--etcd``, docs/ha.md) and follow it.

Layer: client (``callcenter-client`` and ``callcenter simulate --connect``). A connection
to a server that answers the ``role`` request with ``standby: ...`` is closed and the next
endpoint tried; one that cannot be reached too.
"""

import re
from typing import Any, List

from twisted.internet import defer, endpoints
from twisted.internet.interfaces import IStreamClientEndpoint
from twisted.python import usage
from zope.interface import implementer


def split_servers(text: str) -> List[str]:
    """The endpoints of a list (``$CALLCENTER_CONNECT``): separated by commas or white space."""
    return [part for part in re.split(r"[,\s]+", text) if part]


def is_standby(kind: str, text: str) -> bool:
    """Whether a reply to ``role`` says the server does not lead (an older server that does
    not know the request leads: it is on its own)."""
    return kind == "response" and text.startswith("standby")


class ConnectOption(usage.Options):
    """``--connect``/``-c``, which may be given several times (the servers of one call center)."""

    def opt_connect(self, endpoint: str) -> None:
        """Endpoint of a callcenter server (tls:HOST:5678:trustRoots=DIR for TLS); several
        --connect: the servers of one call center, the leader is used [default: $CALLCENTER_CONNECT,
        which may list several]"""
        self.setdefault("servers", []).append(endpoint)

    def servers_from(self, environment_value: str, default: str) -> None:
        """``servers`` (a list) and ``connect`` (them all, for messages) once parsed."""
        servers = self.get("servers") or split_servers(environment_value or "") or [default]
        self["servers"] = servers
        self["connect"] = ",".join(servers)


@implementer(IStreamClientEndpoint)
class RotatingEndpoint(object):
    """The servers' endpoints, the current one first: :meth:`advance` moves on (a standby,
    or one that cannot be reached, which ``connect`` does by itself)."""

    def __init__(self, reactor: Any, descriptions: List[str]) -> None:
        self.descriptions = list(descriptions)
        self.endpoints = [endpoints.clientFromString(reactor, description) for description in descriptions]
        self.index = 0
        self.standbys_in_a_row = 0  # standbys met since a leader was last found

    @property
    def several(self) -> bool:
        return len(self.endpoints) > 1

    @property
    def current(self) -> str:
        return self.descriptions[self.index]

    def advance(self) -> None:
        self.index = (self.index + 1) % len(self.endpoints)

    def connect(self, protocol_factory: Any) -> "defer.Deferred[Any]":
        connecting = self.endpoints[self.index].connect(protocol_factory)

        def failed(failure: Any) -> Any:
            self.advance()
            return failure

        return connecting.addErrback(failed)
