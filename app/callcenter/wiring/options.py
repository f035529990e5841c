"""Command-line options of the programs that sit on top: the shell with its planning
sub-commands, the server and the twistd plugin.

Layer: wiring. Built on the shared options of ``cli/arguments.py``; the defaults live with what
they are defaults of (the core, the journal; the connections' limits in ``net/limits.py``, which
loads no protocol); nothing below the wiring imports this module.
"""

import sys
from typing import Dict, List, Mapping, Optional

from twisted.python import usage

from callcenter.cli.arguments import (
    DEFAULT_PORT,
    CallCenterOptions,
    TokenFileError,
    byte_count,
    positive_count,
    read_text_option,
    read_token,
    seconds_option,
)
from callcenter.net.amiusers import AmiUser, AmiUsersError, parse_users
from callcenter.net.limits import (
    DEFAULT_AUTH_TIMEOUT,
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_OUTPUT_BUFFER,
    DEFAULT_MAX_UNAUTHENTICATED,
    DEFAULT_MAX_WEB_CLIENTS,
)
from callcenter.store.etcd_config import DEFAULT_LEASE_TTL, DEFAULT_PREFIX, EtcdCredentials, check_endpoints
from callcenter.store.journal import DEFAULT_JOURNAL_LIMIT

DEFAULT_LISTEN = "tcp:%d:interface=127.0.0.1" % DEFAULT_PORT
auth_timeout = seconds_option("auth-timeout", "no deadline")


def read_ami_users(path: str) -> "Dict[str, AmiUser]":
    """The users of an --ami-users file; usage.UsageError saying why when it cannot be used
    (never showing a secret)."""
    try:
        return parse_users(read_text_option("ami-users", path))
    except AmiUsersError as error:
        raise usage.UsageError("--ami-users: %s: %s" % (path, error)) from None


def is_tls(endpoint: str) -> bool:
    """Whether an endpoint string listens with TLS (Twisted's ssl: server endpoint)."""
    return endpoint.strip().lower().startswith("ssl:")


def lease_seconds(text: str) -> int:
    if not text.strip().isdigit() or int(text) < 2:
        raise usage.UsageError("--etcd-lease takes a whole number of seconds, 2 or more (etcd's least), not %r" % text)
    return int(text)


def read_file_option(name: str, path: Optional[str], limit: int = 1 << 20) -> Optional[bytes]:
    """The bytes of the file an option names (None when not given); usage.UsageError naming it."""
    if path is None:
        return None
    try:
        with open(path, "rb") as given:
            return given.read(limit)
    except OSError as error:
        raise usage.UsageError("--%s: cannot read %s: %s" % (name, path, error.strerror)) from None


def etcd_credentials(options: Mapping[str, Optional[str]]) -> EtcdCredentials:
    """What the server shows etcd, every secret from a file (never the command line)."""
    user = password = None
    user_file = read_file_option("etcd-user-file", options["etcd-user-file"], 4096)
    if user_file is not None:
        text = user_file.decode("utf-8", "replace").strip()
        user, colon, password = text.partition(":")
        if not colon or not user:
            raise usage.UsageError("--etcd-user-file: %s must hold USER:PASSWORD" % options["etcd-user-file"])
    if (options["etcd-cert"] is None) != (options["etcd-key"] is None):
        raise usage.UsageError("--etcd-cert and --etcd-key go together")
    return EtcdCredentials(
        user=user,
        password=password,
        ca=read_file_option("etcd-ca", options["etcd-ca"]),
        cert=read_file_option("etcd-cert", options["etcd-cert"]),
        key=read_file_option("etcd-key", options["etcd-key"]),
    )


def default_server_name(listen: str) -> str:
    """HOST:PORT, the port of the ``--listen`` endpoint: a name that tells the servers apart."""
    import socket

    fields = listen.split(":")
    port = fields[1] if len(fields) > 1 and fields[1].isdigit() else listen
    return "%s:%s" % (socket.gethostname(), port)


def simulate_options() -> usage.Options:
    from callcenter.sim.planning import SimulateOptions

    return SimulateOptions()


def erlang_options() -> usage.Options:
    from callcenter.sim.planning import ErlangOptions

    return ErlangOptions()


def staff_options() -> usage.Options:
    from callcenter.sim.staff_command import StaffOptions

    return StaffOptions()


class ShellOptions(CallCenterOptions):
    """``callcenter``: the shell's options, or one of the planning commands with its own
    (Twisted's sub-commands: ``--help`` lists them, ``callcenter <command> --help`` shows theirs)."""

    synopsis = (
        "Usage: callcenter [options]  (commands on stdin, results on stdout)\n"
        "       callcenter <command> [options]  (callcenter <command> --help shows its options)"
    )
    # Each imported when used: the shell need not load the simulator to start.
    subCommands = [
        ("simulate", None, simulate_options, "A day of traffic through the call center, in virtual time."),
        ("erlang", None, erlang_options, "Staffing by formula: Erlang C (Erlang A with --patience)."),
        ("staff", None, staff_options, "Staffing by simulation: several queues, groups of skills."),
    ]
    longdesc = "With a command, callcenter plans a day instead of running the call center:"

    def parseOptions(self, options: Optional[List[str]] = None) -> None:
        self.arguments = sys.argv[1:] if options is None else list(options)
        try:
            CallCenterOptions.parseOptions(self, options)
        except usage.UsageError as error:
            # Twisted's own words ("Unknown command: foo") name the word; these, the commands too.
            if self.subCommand is None and str(error).startswith("Unknown command: "):
                word = str(error)[len("Unknown command: ") :]
                commands = [name for name, _, _, _ in self.subCommands]
                names = ", ".join(commands[:-1]) + " and " + commands[-1]
                raise usage.UsageError(
                    "unknown command %r; the commands are %s (with none, callcenter is the shell)" % (word[:80], names)
                ) from None
            raise

    def postOptions(self) -> None:
        if self.subCommand is None:
            CallCenterOptions.postOptions(self)
        elif self.arguments[:1] != [self.subCommand]:
            raise usage.UsageError(
                "options before the command %s: its own go after it (callcenter %s --help)"
                % (self.subCommand, self.subCommand)
            )


class ServerOptions(CallCenterOptions):
    synopsis = "Usage: callcenter-server [options]"
    optParameters = [
        ["listen", "l", DEFAULT_LISTEN, "Endpoint to listen on; tcp:5678 listens on every interface."],
        [
            "metrics",
            None,
            None,
            "Endpoint for Prometheus metrics at /metrics, e.g. tcp:9102:interface=127.0.0.1; off if not given.",
        ],
        [
            "web",
            None,
            None,
            "Endpoint for the wallboard web page, e.g. tcp:8080:interface=127.0.0.1; off if not given.",
        ],
        [
            "max-web-clients",
            None,
            DEFAULT_MAX_WEB_CLIENTS,
            "Web connections (--web) served at once; one more gets a 503 answer.",
            positive_count,
        ],
        [
            "max-output-buffer",
            None,
            DEFAULT_MAX_OUTPUT_BUFFER,
            "Bytes of unsent output a client may hold (16M: 16 MiB) before it is disconnected for not reading.",
            byte_count,
        ],
        [
            "max-connections",
            None,
            DEFAULT_MAX_CONNECTIONS,
            "Clients connected at once; one more gets an error line and is disconnected.",
            positive_count,
        ],
        [
            "auth-token-file",
            None,
            None,
            "File holding the token that clients must send first (see docs/security.md); none: no authentication.",
        ],
        [
            "auth-timeout",
            None,
            DEFAULT_AUTH_TIMEOUT,
            "Seconds a client has to send the token (with --auth-token-file) before it is disconnected; 0: no limit.",
            auth_timeout,
        ],
        [
            "max-unauthenticated",
            None,
            DEFAULT_MAX_UNAUTHENTICATED,
            "Clients still to send the token held at once; one more takes the place of the oldest.",
            positive_count,
        ],
        [
            "state-dir",
            None,
            "",
            "Directory that keeps the state across restarts (journal and snapshot); none: kept in memory only.",
        ],
        [
            "ami",
            None,
            None,
            "Endpoint of the Asterisk Manager Interface (docs/ami.md), e.g. tcp:5038:interface=127.0.0.1; none: off.",
        ],
        ["ami-users", None, None, "manager.conf-shaped file of the AMI's users and their secrets (needed with --ami)."],
        [
            "queue-log",
            None,
            None,
            "File Asterisk's queue_log lines are appended to (docs/ami.md), reopened on SIGHUP; none: not written.",
        ],
        [
            "journal-limit",
            None,
            DEFAULT_JOURNAL_LIMIT,
            "Journal size (64M: 64 MiB; 8M with --etcd) past which a snapshot is written and a new journal started.",
            byte_count,
        ],
        # The replicated store (docs/ha.md).
        [
            "etcd",
            None,
            None,
            "etcd endpoints (http(s)://host:2379, comma separated): the state kept there, one server leading.",
        ],
        ["etcd-prefix", None, DEFAULT_PREFIX, "Key prefix in etcd: one call center per prefix."],
        ["etcd-name", None, None, "This server's name in the election [default: HOST:PORT of --listen]."],
        [
            "etcd-lease",
            None,
            DEFAULT_LEASE_TTL,
            "Seconds of the leader's lease (2 or more): a standby takes over this long after the leader died.",
            lease_seconds,
        ],
        ["etcd-user-file", None, None, "File holding USER:PASSWORD for etcd's authentication; none: no user."],
        ["etcd-ca", None, None, "PEM file of the CA that signed the etcd members' certificates (https)."],
        ["etcd-cert", None, None, "PEM file of this server's client certificate for etcd (https)."],
        ["etcd-key", None, None, "PEM file of that certificate's key."],
    ]

    def postOptions(self) -> None:
        CallCenterOptions.postOptions(self)
        self["etcd-credentials"] = None
        if self["etcd"] is not None:
            self.check_etcd()
        self["auth-token"] = None
        if self["auth-token-file"] is not None:
            try:
                self["auth-token"] = read_token(self["auth-token-file"]).encode("utf-8")
            except TokenFileError as error:
                raise usage.UsageError("--auth-token-file: %s" % error) from None
        self["ami-user-table"] = None
        if self["ami"]:
            if not self["ami-users"]:
                raise usage.UsageError("--ami needs --ami-users FILE: who may log in, with what secret")
            self["ami-user-table"] = read_ami_users(self["ami-users"])
        elif self["ami-users"]:
            raise usage.UsageError("--ami-users: give --ami ENDPOINT too")
        if self["web"] and is_tls(self["listen"]) and not is_tls(self["web"]):
            raise usage.UsageError("--web: the server listens with TLS, so the wallboard must too (ssl:...)")

    def check_etcd(self) -> None:
        if self["state-dir"]:
            raise usage.UsageError("--etcd and --state-dir: the state is kept in one of them")
        try:
            self["etcd"] = check_endpoints(self["etcd"])
        except ValueError as error:
            raise usage.UsageError("--etcd: %s" % error) from None
        prefix = self["etcd-prefix"]
        if not prefix or not prefix.endswith("/"):
            raise usage.UsageError("--etcd-prefix: %r must end with / (like /callcenter/)" % (prefix,))
        self["etcd-credentials"] = etcd_credentials(self)
        if any(endpoint.startswith("https://") for endpoint in self["etcd"]) and not all(
            endpoint.startswith("https://") for endpoint in self["etcd"]
        ):
            raise usage.UsageError("--etcd: all https or all http")
        if self["etcd-name"] is None:
            self["etcd-name"] = default_server_name(self["listen"])
