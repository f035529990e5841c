"""``callcenter-healthcheck``: does the call center server on this host answer its protocol?

Layer: wiring.

The wiring layer, for container health checks: it finds the ``callcenter-server`` process (the
only one visible, as in a container, or ``--pid``), reads its command line with the server's own
options, so that the port checked is the one that server listens on, whatever ``--listen`` it was
given, and does one protocol round trip there: ``auth`` first when the server takes a token, then
``status``, which must get a response. Exit status 0 when it does, 1 with one line saying why when
it does not. It speaks plain sockets, since it runs once and exits.
"""

import json
import os
import socket
import ssl
import sys
from typing import IO, List, Optional, Tuple

from twisted.internet.endpoints import serverFromString
from twisted.internet.protocol import Factory
from twisted.internet.testing import MemoryReactor
from twisted.python import usage

from callcenter.wiring.options import ServerOptions

SERVER_PROGRAM = "callcenter-server"
TIMEOUT = 5.0
# Where a server listening on every interface (or on none named) is reached from its own host.
LOCAL_ADDRESS = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}


class UnhealthyError(Exception):
    """The server is not there or does not answer as it should: the message says which."""


class HealthOptions(usage.Options):
    synopsis = "Usage: callcenter-healthcheck [--pid PID]"
    optParameters = [
        ["pid", None, None, "The server's process id; by default the only callcenter-server process.", int],
    ]


def server_arguments(pid: int) -> List[str]:
    """The options a callcenter-server process was started with, or UnhealthyError if it is not one."""
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as cmdline:
            argv = cmdline.read().decode("utf-8", "replace").split("\0")[:-1]
    except OSError:
        raise UnhealthyError("no process %d" % pid) from None
    for index, word in enumerate(argv[:2]):
        if os.path.basename(word) == SERVER_PROGRAM:
            return argv[index + 1 :]
    raise UnhealthyError("process %d is not %s" % (pid, SERVER_PROGRAM))


def find_server() -> int:
    """The process id of the only callcenter-server process visible."""
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit() and int(name) != os.getpid():
            try:
                server_arguments(int(name))
            except UnhealthyError:
                continue
            found.append(int(name))
    if len(found) != 1:
        raise UnhealthyError("%d %s processes (give --pid)" % (len(found), SERVER_PROGRAM))
    return found[0]


def listening_address(listen: str) -> Tuple[str, int, bool]:
    """(host, port, TLS?) that the endpoint string ``listen`` listens on, reached locally.

    The endpoint is parsed by Twisted itself: it listens on a MemoryReactor, which records
    the port and interface it was asked for.
    """
    reactor = MemoryReactor()
    serverFromString(reactor, listen).listen(Factory())
    if reactor.tcpServers:
        port, _, _, interface = reactor.tcpServers[0]
        tls = False
    elif reactor.sslServers:
        port, _, _, _, interface = reactor.sslServers[0]
        tls = True
    else:
        raise UnhealthyError("%s: not a TCP or TLS endpoint" % listen)
    return LOCAL_ADDRESS.get(interface, interface), port, tls


def round_trip(host: str, port: int, tls: bool, token: Optional[bytes]) -> str:
    """The response to ``status`` on a new connection, after ``auth`` when there is a token."""
    try:
        sock = socket.create_connection((host, port), timeout=TIMEOUT)
        if tls:
            # Whether the server is up, not who it is: its certificate is not checked.
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            sock = context.wrap_socket(sock)
        with sock, sock.makefile("rb") as replies:
            if token is not None:
                sock.sendall(json.dumps({"command": "auth", "token": token.decode("utf-8")}).encode("utf-8") + b"\n")
                reply(replies)
            sock.sendall(b'{"command": "status"}\n')
            return reply(replies)
    except OSError as error:
        raise UnhealthyError("%s port %d: %s" % (host, port, error)) from None


def reply(replies: "IO[bytes]") -> str:
    line = replies.readline()
    try:
        message = json.loads(line.decode("utf-8")) if line.endswith(b"\n") else None
    except ValueError:
        message = None
    if not isinstance(message, dict) or not isinstance(message.get("response"), str):
        raise UnhealthyError("the server answered %r" % (line,))
    return message["response"]


def check(pid: Optional[int]) -> str:
    """A line saying where the server answered; UnhealthyError if it did not."""
    pid = find_server() if pid is None else pid
    options = ServerOptions()
    try:
        options.parseOptions(server_arguments(pid))
    except usage.UsageError as error:
        raise UnhealthyError("process %d's options: %s" % (pid, error)) from None
    host, port, tls = listening_address(options["listen"])
    round_trip(host, port, tls, options["auth-token"])
    return "%s answers on %s port %d%s" % (SERVER_PROGRAM, host, port, " (TLS)" if tls else "")


def main(argv: Optional[List[str]] = None) -> None:
    options = HealthOptions()
    try:
        options.parseOptions(sys.argv[1:] if argv is None else argv)
        print(check(options["pid"]))
    except usage.UsageError as error:
        print("callcenter-healthcheck: %s" % error, file=sys.stderr)
        sys.exit(2)
    except UnhealthyError as error:
        print("unhealthy: %s" % error, file=sys.stderr)
        sys.exit(1)
