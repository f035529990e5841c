"""The seams between the layers, declared: what each layer needs from the one below it.

Layer: all of them (declarations only, no behaviour). The core (``core/center.py``) provides
:class:`ICallCenter`, :class:`IEventSource` (it tells an :class:`IEventSubscriber` every
event) and :class:`ICallCenterObserver`; the durable call center (``store/durable.py``)
provides them too, telling its subscribers once the events are durable, and
:class:`IDurableOutput` for the replies that must wait for the disk, as does the replicated
one (``store/replicated.py``), with :class:`ILeadership` besides; the server's protocol
(``net/protocol.py``), the metrics and the wallboard (``web/``) and the simulator subscribe;
the client and the shell read and write through an :class:`IShellSession`; the ring
strategies provide ``core.strategies.IRingStrategy``; the simulator's replications run on
an :class:`IRunner`. Every provider is checked with ``verifyObject`` in
tests/wiring/test_interfaces.py.
"""

from zope.interface import Attribute, Interface


class ICallCenter(Interface):
    """What the server's protocol and the shell need from a call center."""

    def execute(command, argument):  # noqa: N805  (zope.interface methods take no self)
        """Run ``command`` (``call``, ``answer``, ...) with its id and the words after it; the
        events it made (``core.events``), which ``core.rendering`` words as its lines.
        ``CallCenterError`` when it is refused: nothing changed."""

    def query(command, argument):  # noqa: N805
        """The lines of a query (``status``, ``stats``; ``argument`` must be None).
        ``CallCenterError`` when it is refused."""

    def operator_ids():
        """The operator ids, in order: what a client offers when completing an operator id."""

    def queue_names():
        """The queues' names, the default one first: what a client offers after ``queue=``."""


class IEventSubscriber(Interface):
    """Hears what happens in a call center: every event, in order, each once, after the
    change has taken effect (with a journal: once it is on disk)."""

    def heard(events, command):  # noqa: N805
        """``events`` (a sequence of ``core.events`` objects) happened: those of one
        ``command`` (its name: ``call``, ``answer``, ...), or of nothing a command asked for
        (``command`` None: a timer, the disk). The call center is already in the state after
        them. What it raises is logged once and stops nothing."""


class IEventSource(Interface):
    """Tells its subscribers every event (the core; the durable call center)."""

    def subscribe(subscriber, commands):  # noqa: N805
        """``subscriber`` (an :class:`IEventSubscriber`) hears every event from now on, after
        those subscribed before it; with ``commands`` False (the default is True), only those
        no command caused: what a command caused, its caller has already."""

    def unsubscribe(subscriber):  # noqa: N805
        """``subscriber`` hears nothing more."""


class ICallCenterObserver(Interface):
    """What an observer (``--metrics``, ``--web``) reads of a call center, besides the events
    it hears as an :class:`IEventSubscriber`."""

    figures = Attribute("The counters behind ``stats`` (a ``stats.QueueFigures``), read at any time.")
    operators = Attribute("The operators, in order, each with its ``state``.")
    queue = Attribute("The waiting calls: ``len()`` and ``oldest()`` (the call waiting longest, or None).")
    queues = Attribute(
        "The queues (``--queues``), each with its ``name``, ``figures``, ``waiting`` calls and ``members``"
        " (each member's level, by operator id)."
    )

    def now():
        """The call center's clock, in seconds."""

    def snapshot(waiting_limit):  # noqa: N805
        """The state as plain data (operators, the first ``waiting_limit`` waiting calls, the
        figures), a copy: what the wallboard (``--web``) shows."""


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
    protocols answer a client that asks (``role``) and when they must close their clients."""

    def role_line():
        """``leader``, or ``standby: the leader is NAME``, or ``standby: no leader``."""

    def when_stepping_down(listener):  # noqa: N805
        """``listener`` (a callable taking one line) is called each time this server stops
        leading (its lease lost, or another server leads): the JSON and AMI ports close
        every client with that line."""


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


class IRunner(Interface):
    """Where the simulator's replications run (``sim/parallel.py``): this process, the machine's
    cores, or a Dask cluster. Whatever runs them, the results are the same, in the same order."""

    workers = Attribute("How many items it computes at once.")

    def map(function, items, progress):  # noqa: N805
        """``[function(*item) for item in items]``: ``function`` is module-level (sent by name),
        the items picklable; ``progress`` (a ``parallel.Progress`` or None) hears each item done.
        Ctrl-C (KeyboardInterrupt) stops every worker of this map before it is raised here."""

    def close():
        """Let the workers go (a runner maps many times before it is closed)."""
