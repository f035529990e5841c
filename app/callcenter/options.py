"""Command-line options of the three commands and the twistd plugin."""

import sys
from typing import List, TypeVar

from twisted.python import usage

from callcenter.core import DEFAULT_RING_TIMEOUT, CallCenterError, parse_operators

DEFAULT_PORT = 5678
DEFAULT_MAX_OUTPUT_BUFFER = 16 << 20
DEFAULT_JOURNAL_LIMIT = 64 << 20
DEFAULT_LISTEN = "tcp:%d:interface=127.0.0.1" % DEFAULT_PORT
DEFAULT_CONNECT = "tcp:127.0.0.1:%d" % DEFAULT_PORT


def ring_timeout(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        raise usage.UsageError("--ring-timeout takes a number of seconds, not %r" % (text,)) from None
    if not 0 <= seconds < float("inf"):
        raise usage.UsageError("--ring-timeout takes 0 (off) or a positive number of seconds")
    return seconds


def byte_count(text: str) -> int:
    """A size in bytes: a whole number, or one with a K, M or G suffix (binary: 16M is 16 MiB)."""
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    number, unit = text.strip(), 1
    if number[-3:].upper() in ("KIB", "MIB", "GIB"):
        number, unit = number[:-3], units[number[-3].upper()]
    elif number[-1:].upper() in units:
        number, unit = number[:-1], units[number[-1].upper()]
    if not number.isdigit() or int(number) < 1:
        raise usage.UsageError("expected a positive number of bytes (like 16777216 or 16M), not %r" % (text,))
    return int(number) * unit


class VersionOption(usage.Options):
    def opt_version(self) -> None:
        """Display the callcenter and Twisted versions and exit."""
        import twisted

        import callcenter

        print("callcenter %s (Twisted %s)" % (callcenter.__version__, twisted.__version__))
        sys.exit(0)


class CallCenterOptions(VersionOption):
    """What configures a call center: its operators and the ring timeout."""

    optParameters = [
        ["operators", "o", "A,B", "Operator ids in order (A,B,C) or a count (5 means A to E)."],
        [
            "ring-timeout",
            "t",
            DEFAULT_RING_TIMEOUT,
            "Seconds an operator may let a call ring before it is offered again; 0 turns it off.",
            ring_timeout,
        ],
    ]

    def postOptions(self) -> None:
        try:
            self["operators"] = parse_operators(self["operators"])
        except CallCenterError as error:
            raise usage.UsageError("--operators: %s" % error) from None


class ShellOptions(CallCenterOptions):
    synopsis = "Usage: callcenter [options]  (commands on stdin, results on stdout)"


class ServerOptions(CallCenterOptions):
    synopsis = "Usage: callcenter-server [options]"
    optParameters = [
        ["listen", "l", DEFAULT_LISTEN, "Endpoint to listen on; tcp:5678 listens on every interface."],
        [
            "max-output-buffer",
            None,
            DEFAULT_MAX_OUTPUT_BUFFER,
            "Bytes of unsent output a client may hold (16M: 16 MiB) before it is disconnected for not reading.",
            byte_count,
        ],
        [
            "state-dir",
            None,
            "",
            "Directory that keeps the state across restarts (journal and snapshot); none: kept in memory only.",
        ],
        [
            "journal-limit",
            None,
            DEFAULT_JOURNAL_LIMIT,
            "Journal size (64M: 64 MiB) past which a snapshot is written and a new journal started.",
            byte_count,
        ],
    ]


class ClientOptions(VersionOption):
    synopsis = "Usage: callcenter-client [options]  (commands on stdin, results on stdout)"
    optParameters = [
        ["connect", "c", DEFAULT_CONNECT, "Endpoint of the callcenter server."],
    ]


OptionsT = TypeVar("OptionsT", bound=usage.Options)


def parse_or_exit(options: OptionsT, argv: List[str]) -> OptionsT:
    """Parse ``argv``; on a mistake print it with the usage on stderr and exit 2."""
    try:
        options.parseOptions(argv)
    except usage.UsageError as error:
        sys.stderr.write("%s\n%s: error: %s\n" % (options, sys.argv[0].rsplit("/", 1)[-1], error))
        sys.exit(2)
    return options
