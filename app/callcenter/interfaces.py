"""The seams between the layers, declared: what each layer needs from the one below it.

Layer: all of them (declarations only, no behaviour). The core (``core.py``) provides
:class:`ICallCenter` and tells an :class:`ICallCenterObserver`'s callables what happens;
the durable call center (``durable.py``) provides :class:`ICallCenter` too, and
:class:`IDurableOutput` for the replies that must wait for the disk, as does the replicated
one (``replicated.py``), with :class:`ILeadership` besides; the server's
protocol (``protocol.py``) needs nothing more than these, and tells an
:class:`IPrintedLinesObserver` (the wallboard, ``web.py``) the lines it prints; the client
and the shell read and write through an :class:`IShellSession`. Every provider is checked with
``verifyObject`` in tests/wiring/test_interfaces.py.
"""

from zope.interface import Attribute, Interface


class ICallCenter(Interface):
    """What the server's protocol and the shell need from a call center."""

    on_event = Attribute(
        """A callable taking a list of lines, or None: told of lines that no command asked for
        (a ring timeout's). Set by whoever shows them to people (the server's factory, the shell)."""
    )

    def execute(command, argument):  # noqa: N805  (zope.interface methods take no self)
        """Run ``command`` (``call``, ``answer``, ... or a query such as ``status``) with its id
        (None for a query); the lines it prints. ``CallCenterError`` when it is refused:
        nothing changed."""

    def operator_ids():
        """The operator ids, in order: what a client offers when completing an operator id."""

    def queue_names():
        """The queues' names, the default one first: what a client offers after ``queue=``."""


class ICallCenterObserver(Interface):
    """What the core tells an observer (``--metrics``, ``--web``), through the callables set
    on it, and what such an observer reads."""

    on_timing = Attribute(
        """A callable ``(kind, seconds)`` or None: hears ``("wait", s)`` when a call is answered
        and ``("ring", s)`` when a ring ends (answered, rejected, ignored or hung up)."""
    )
    figures = Attribute("The counters behind ``stats`` (a ``stats.QueueFigures``), read at any time.")
    operators = Attribute("The operators, in order, each with its ``state``.")
    queue = Attribute("The waiting calls: ``len()`` and ``head()`` (the call waiting longest, or None).")
    queues = Attribute("The queues (``--queues``), each with its ``name``, ``figures`` and ``waiting`` calls.")

    def now():
        """The call center's clock, in seconds."""

    def snapshot(waiting_limit):  # noqa: N805
        """The state as plain data (operators, the first ``waiting_limit`` waiting calls, the
        figures), a copy: what the wallboard (``--web``) shows."""


class IPrintedLinesObserver(Interface):
    """What the server's factory tells those who watch its call center besides its clients
    (the wallboard, ``--web``): every line printed that may come with a change of state, the
    reply lines of each command (not of the ``status`` and ``stats`` queries) and the lines
    of each ring-timeout event, in the order they happened, as they happen (before a
    journal has made them durable)."""

    def lines_printed(lines):  # noqa: N805
        """``lines`` were printed; the call center's state is already the one after them."""


class IDurableOutput(Interface):
    """Replies and events that may go out only once the records before them are on disk."""

    def when_durable():
        """None when what the commands executed so far print may go out now; otherwise a
        Deferred that fires once their records are on disk. Bytes sent through Deferreds
        got in order go out in that order. When the disk refuses their records, the Deferred
        fails with :class:`ChangeNotStored` instead: what waited on it must not go out, and
        each reply that waited becomes one error line with the failure's message (the call
        center has rolled those changes back); events that waited are dropped. Every waiter
        passes the result on unchanged, so that all those waiting on one commit hear it: the
        end of the chain is the provider's, which consumes the failure once it has fired it."""


class IDiskState(Interface):
    """Whether the state directory takes writes (the durable call center's degraded mode),
    for what shows it (``--metrics``, ``--web``)."""

    degraded = Attribute("Why the disk refuses writes (``no space left``, ...), or None while it takes them.")
    changes_refused = Attribute("Changes rolled back or refused because the disk refused them, since the start.")


class ILeadership(Interface):
    """Whether this server leads the replicated store (``--etcd``, ``replicated.py``): what the
    protocol answers a client that asks (``role``), and when it must close its clients."""

    on_step_down = Attribute(
        """A callable taking one line, or None: called when this server stops leading (its
        lease lost, or another server leads); the server's factory closes every client with
        that line. Set by the factory."""
    )

    def role_line():
        """``leader``, or ``standby: the leader is NAME``, or ``standby: no leader``."""

    def add_observer(observer):  # noqa: N805
        """``observer`` (an :class:`IPrintedLinesObserver`) hears the lines of the changes a
        standby applies from the leader's journal, as the leader's printed them."""


class ChangeNotStored(Exception):  # noqa: N818  (a refusal, not an error of the program)
    """The disk refused the records of a change: it was rolled back, not acknowledged. The
    message is the one error line a client gets for it."""


class IShellSession(Interface):
    """Where a shell's input comes from and its output goes (``console.py``): a pipe or a terminal."""

    output = Attribute("The ``output.Output`` that the shell's results and errors go to.")
    completes = Attribute("True when the session offers Tab completion (a terminal).")

    def attach(shell):  # noqa: N805
        """Read input into ``shell`` (one ``onecmd`` a line); a Deferred that fires at end of
        input or ``quit``."""

    def follow(transport):  # noqa: N805
        """The client's server connection: flow control between it and the session (input
        waits while the server has not taken the requests; replies wait in the server while
        the output's reader is slow)."""

    def unfollow(transport):  # noqa: N805
        """That connection is gone."""

    def close():
        """A Deferred that fires once everything written has reached the reader (or the
        reader is gone), and the output is closed."""
