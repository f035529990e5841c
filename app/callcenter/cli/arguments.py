"""Command-line options every program shares: the call center's own (operators, ring timeout,
routing), the client's, the option types, the token file and ``parse_or_exit``.

Layer: cli. The planning commands (sim) and the programs (wiring) build theirs on these; the
defaults live with what they are defaults of (the core).
"""

import os
import sys
from typing import Callable, List, Mapping, Optional, TypeVar

from twisted.python import usage

from callcenter.cli.servers import ConnectOption
from callcenter.core.center import DEFAULT_RING_TIMEOUT, DEFAULT_SERVICE_LEVEL, CallCenterError, parse_operators
from callcenter.core.queues import QueueConfig, QueuesError, operator_ids_of, parse_queues
from callcenter.core.strategies import LINEAR, STRATEGIES

DEFAULT_PORT = 5678
DEFAULT_CONNECT = "tcp:127.0.0.1:%d" % DEFAULT_PORT
# Where the client connects when --connect is not given (a container's usual way to be told).
CONNECT_ENV = "CALLCENTER_CONNECT"


def seconds_option(name: str, zero: str) -> "Callable[[str], float]":
    """The coerce function of an option that takes seconds (0 included, meaning ``zero``)."""

    def coerce(text: str) -> float:
        try:
            seconds = float(text)
        except ValueError:
            raise usage.UsageError("--%s takes a number of seconds, not %r" % (name, text)) from None
        if not 0 <= seconds < float("inf"):
            raise usage.UsageError("--%s takes 0 (%s) or a positive number of seconds" % (name, zero))
        return seconds

    return coerce


ring_timeout = seconds_option("ring-timeout", "off")
service_level = seconds_option("service-level", "only calls answered at once count")
wrap_up = seconds_option("wrap-up", "none")
max_wait = seconds_option("max-wait", "no limit")


def count_option(name: str, zero: str) -> "Callable[[str], int]":
    """The coerce function of an option that takes a whole number (0 meaning ``zero``)."""

    def coerce(text: str) -> int:
        if not text.strip().isdigit():
            raise usage.UsageError("--%s takes 0 (%s) or a positive whole number, not %r" % (name, zero, text))
        return int(text)

    return coerce


max_no_answer = count_option("max-no-answer", "off")
max_queue = count_option("max-queue", "no limit")


def strategy(text: str) -> str:
    if text not in STRATEGIES:
        raise usage.UsageError("--strategy takes one of %s, not %r" % (", ".join(STRATEGIES), text[:80]))
    return text


def seed(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise usage.UsageError("--seed takes a whole number, not %r" % (text[:80],)) from None


def routing_options(options: Mapping[str, object]) -> "dict":
    """CallCenter's routing keyword arguments from parsed options (docs/routing.md)."""
    return {
        "strategy": options["strategy"],
        "seed": options["seed"],
        "wrap_up": options["wrap-up"],
        "max_no_answer": options["max-no-answer"],
        "max_queue": options["max-queue"],
        "max_wait": options["max-wait"],
        "queues": options["queues"],
    }


def read_text_option(option: str, path: str) -> str:
    """The UTF-8 text of the file ``--option`` names (1 MiB at most); usage.UsageError naming
    the option and the file when it cannot be read."""
    try:
        with open(path, "rb") as given:
            return given.read(1 << 20).decode("utf-8")
    except OSError as error:
        raise usage.UsageError("--%s: cannot read %s: %s" % (option, path, error.strerror)) from None
    except UnicodeDecodeError:
        raise usage.UsageError("--%s: %s is not UTF-8 text" % (option, path)) from None


def read_queues(path: str) -> "List[QueueConfig]":
    """The queues of a --queues file; usage.UsageError naming the file and the line when it
    cannot be read or is wrong."""
    try:
        return parse_queues(read_text_option("queues", path))
    except QueuesError as error:
        raise usage.UsageError("--queues: %s %s" % (path, error)) from None


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


def positive_count(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise usage.UsageError("expected a positive whole number, not %r" % (text,))
    return int(text)


AUTH_TOKEN_FILE_VARIABLE = "CALLCENTER_AUTH_TOKEN_FILE"


class TokenFileError(Exception):
    """The token file cannot be used: one line saying why (the token itself is never shown)."""


def read_token(path: str) -> str:
    """The token in a file: its text without surrounding white space. TokenFileError with a
    one-line reason when it cannot be read or is empty. The token itself is never shown."""
    try:
        with open(path, "rb") as token_file:
            token = token_file.read(4096).decode("utf-8").strip()
    except OSError as error:
        raise TokenFileError("cannot read the token file %s: %s" % (path, error.strerror)) from None
    except UnicodeDecodeError:
        raise TokenFileError("the token file %s is not UTF-8 text" % path) from None
    if not token:
        raise TokenFileError("the token file %s is empty" % path)
    return token


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
        ["operators", "o", None, "Operator ids in order (A,B,C) or a count (5 means A to E); default A,B."],
        [
            "ring-timeout",
            "t",
            DEFAULT_RING_TIMEOUT,
            "Seconds an operator may let a call ring before it is offered again; 0 turns it off.",
            ring_timeout,
        ],
        [
            "service-level",
            None,
            DEFAULT_SERVICE_LEVEL,
            "Seconds within which an answered call counts towards the service level of stats.",
            service_level,
        ],
        # Routing (docs/routing.md); the defaults are the assignment's behaviour.
        ["strategy", None, LINEAR, "Ring strategy: %s." % ", ".join(STRATEGIES), strategy],
        ["seed", None, None, "Seed of the random strategy's choices (reproducible runs).", seed],
        ["wrap-up", None, 0.0, "Seconds an operator stays unavailable after an answered call; 0: none.", wrap_up],
        [
            "max-no-answer",
            None,
            0,
            "Ring timeouts in a row after which an operator is paused; 0: never.",
            max_no_answer,
        ],
        ["max-queue", None, 0, "Waiting calls past which a new call is refused; 0: no limit.", max_queue],
        ["max-wait", None, 0.0, "Seconds a call may wait in the queue before it leaves; 0: no limit.", max_wait],
        [
            "queues",
            None,
            None,
            "INI file of several queues, one [section] a queue (see docs/queues.md); none: one queue of --operators.",
        ],
    ]

    def postOptions(self) -> None:
        if self["queues"] is not None:
            if self["operators"] is not None:
                raise usage.UsageError("--operators and --queues: the queues file names the operators")
            for name in ("strategy", "max-queue", "max-wait"):
                if self[name] != self.defaults[name]:
                    raise usage.UsageError("--%s and --queues: set %s per queue in the file" % (name, name))
            self["queues"] = read_queues(self["queues"])
            self["operators"] = operator_ids_of(self["queues"])
            return
        try:
            self["operators"] = parse_operators(self["operators"] or "A,B")
        except CallCenterError as error:
            raise usage.UsageError("--operators: %s" % error) from None


class ClientOptions(VersionOption, ConnectOption):
    synopsis = "Usage: callcenter-client [options]  (commands on stdin, results on stdout)"
    optParameters = [
        [
            "auth-token-file",
            None,
            None,
            "File holding the server's token, sent first (default: $%s; none: no token)." % AUTH_TOKEN_FILE_VARIABLE,
        ],
    ]

    opt_c = ConnectOption.opt_connect

    def __init__(self, environ: Optional[Mapping[str, str]] = None) -> None:
        super().__init__()
        self.environ = os.environ if environ is None else environ

    def postOptions(self) -> None:
        self.servers_from(self.environ.get(CONNECT_ENV, ""), DEFAULT_CONNECT)
        if self["auth-token-file"] is None:
            self["auth-token-file"] = self.environ.get(AUTH_TOKEN_FILE_VARIABLE) or None


OptionsT = TypeVar("OptionsT", bound=usage.Options)


def parse_or_exit(options: OptionsT, argv: List[str]) -> OptionsT:
    """Parse ``argv``; on a mistake print it with the usage on stderr and exit 2. ``--help``
    or ``--version`` into a pipe closed early (``| head``) ends quietly, as ``cat`` would."""
    try:
        options.parseOptions(argv)
    except BrokenPipeError:
        # Python would flush stdout again at exit and complain: point it at nothing first.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
    except usage.UsageError as error:
        # A sub-command's mistake shows that command's usage.
        shown: usage.Options = options
        while getattr(shown, "subOptions", None) is not None:
            shown = shown.subOptions
        sys.stderr.write("%s\n%s: error: %s\n" % (shown, sys.argv[0].rsplit("/", 1)[-1], error))
        sys.exit(2)
    return options
