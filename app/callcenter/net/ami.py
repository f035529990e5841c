"""The Asterisk Manager Interface (``--ami ENDPOINT``): the call center as Asterisk 20 shows it.

Layer: protocols. The wire is :mod:`callcenter.net.amiwire`'s (pure codec), the queues' fields
:mod:`callcenter.net.amiqueue`'s, the users :mod:`callcenter.net.amiusers`'s. Here a connection
logs in, runs actions through the factory's call center (``interfaces.ICallCenter``, so that a
journal keeps what they change and their replies wait for the disk, ``IDurableOutput``), and
hears the events the factory is given. The same limits as the JSON port: connections at once,
a deadline and a pool for those not logged in, a bound on unsent output past which a client
that does not read is cut off. Secrets and keys are never logged. docs/ami.md has the whole.
"""

import hashlib
import hmac
import os
import random
import time
from collections import OrderedDict, deque
from typing import Any, Callable, Deque, Dict, List, Optional, Set, Tuple

from twisted.internet import interfaces, protocol
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from callcenter.core.asterisk import INTERFACE_PREFIX, call_of_channel, caller_channel, operator_named
from callcenter.core.center import CallCenterError
from callcenter.core.model import BUSY, PAUSED, RINGING, ChangeRefusedError
from callcenter.core.queues import MAX_LEVEL
from callcenter.interfaces import ChangeNotStored, ICallCenter, IDurableOutput, ILeadership
from callcenter.net import amiwire
from callcenter.net.amiqueue import Member, QueueView
from callcenter.net.amiusers import AmiUser
from callcenter.net.amiwire import AGENT, CALL, ORIGINATE, REPORTING, SYSTEM, Message
from callcenter.net.ratelimit import CountingLog
from callcenter.net.twisted_internals import send_now, unsent_bytes

log = Logger()

LOGIN_FAILURE_DELAY = 1.0  # seconds, as Asterisk sleeps before "Authentication failed"
ASTERISK_VERSION = "20.0.0"
# Messages handled in one go before the reactor gets a turn: a client that pipelines
# thousands of actions must not hold up the others.
MESSAGES_PER_TURN = 200
# What a client that hears system events gets before its connection closes because this server
# stopped leading: Asterisk's event when its manager goes away (tools reconnect on it).
SHUTDOWN = amiwire.event("Shutdown", SYSTEM, (("Shutdown", "Uncleanly"), ("Restart", "True")))


class Action(object):
    """An action: its name as ListCommands shows it, the classes that may run it (0: anyone
    logged in), its synopsis, and the method of :class:`AmiProtocol` that runs it."""

    __slots__ = ("authority", "method", "name", "synopsis")

    def __init__(self, name: str, authority: int, synopsis: str, method: str) -> None:
        self.name = name
        self.authority = authority
        self.synopsis = synopsis
        self.method = method


# In Asterisk 20's order of registration, with its classes and synopses.
ACTIONS = OrderedDict(
    (action.name.lower(), action)
    for action in (
        Action("Ping", 0, "Keepalive command.", "action_ping"),
        Action("Events", 0, "Control Event Flow.", "action_events"),
        Action("Logoff", 0, "Logoff Manager.", "action_logoff"),
        Action("Login", 0, "Login Manager.", "action_login"),
        Action("Challenge", 0, "Generate Challenge for MD5 Auth.", "action_challenge"),
        Action("Hangup", SYSTEM | CALL, "Hangup channel.", "action_hangup"),
        Action("Originate", ORIGINATE, "Originate a call.", "action_originate"),
        Action("ListCommands", 0, "List available manager commands.", "action_listcommands"),
        Action("CoreSettings", SYSTEM | REPORTING, "Show PBX core settings (version etc).", "action_coresettings"),
        Action("CoreStatus", SYSTEM | REPORTING, "Show PBX core status variables.", "action_corestatus"),
        Action("QueueStatus", 0, "Show queue status.", "action_queuestatus"),
        Action("QueueSummary", 0, "Show queue summary.", "action_queuesummary"),
        Action("QueueAdd", AGENT, "Add interface to queue.", "action_queueadd"),
        Action("QueueRemove", AGENT, "Remove interface from queue.", "action_queueremove"),
        Action("QueuePause", AGENT, "Makes a queue member temporarily unavailable.", "action_queuepause"),
        Action("QueuePenalty", AGENT, "Set the penalty for a queue member.", "action_queuepenalty"),
        Action("QueueReset", 0, "Reset queue statistics.", "action_queuereset"),
    )
)
# What a client may send before it has logged in.
BEFORE_LOGIN = ("login", "logoff", "challenge")


@implementer(interfaces.IHandshakeListener)
class AmiProtocol(protocol.Protocol):
    """One manager connection.

    Flow control: the connection is its transport's streaming producer; while Twisted has
    paused it (its output past the transport's buffer) no message is handled and the socket
    is not read. Events still go out to it, up to the factory's ``max_output_buffer`` unsent
    bytes; past it the client is cut off."""

    factory: "AmiFactory"
    transport: Any = None
    user: Optional[AmiUser] = None
    send_events = 0  # the classes of events it hears
    challenge = ""
    closing = False  # its last reply is on its way: nothing more is handled
    cut_off = False
    paused = False
    _deadline: Any = None  # closes it if it has not logged in in time
    _failure: Any = None  # the delayed "Authentication failed"
    _held = 0  # replies waiting for the disk
    _acting = False  # an action of this connection is running
    _taken = 0  # how many of the factory's events of this turn it has taken

    def connectionMade(self) -> None:
        self.parser = amiwire.MessageParser()
        self.messages: Deque[Message] = deque()
        self._turn: Any = None
        # Events that wait for the replies before them (manager.c sends a session's events
        # after the response to its action).
        self._events_waiting: List[bytes] = []
        self._outgoing: List[bytes] = []  # events that go out ahead of its next write
        self.factory.clients.add(self)
        self.transport.registerProducer(self, True)
        log.info("AMI connection from {peer}", peer=self.transport.getPeer())
        self.factory.admit_unauthenticated(self)
        if self.factory.auth_timeout:
            self._deadline = self.factory.call_later(self.factory.auth_timeout, self.expel, "did not log in in time")
        # Over TLS the banner waits for the handshake (handshakeCompleted): a write before
        # it pauses this producer, and a paused connection reads nothing, the handshake
        # included.
        if not interfaces.ISSLTransport.providedBy(self.transport):
            send_now(self.transport, amiwire.BANNER)

    def handshakeCompleted(self) -> None:
        """Twisted (IHandshakeListener): a TLS connection's handshake is done."""
        if not self.closing:
            self.transport.write(amiwire.BANNER)

    @property
    def authenticated(self) -> bool:
        return self.user is not None

    def expel(self, reason: str) -> None:
        """Closed before logging in (too late, or the oldest of too many): Asterisk just hangs up."""
        self._leave_unauthenticated()
        self.factory.clients.discard(self)
        log.info("Closing AMI connection from {peer}: {reason}", peer=self.transport.getPeer(), reason=reason)
        self.closing = True
        self.transport.loseConnection()

    def close_with_shutdown(self) -> None:
        """The server stops serving this client: the replies owed go, then ``Shutdown`` when
        it hears system events, then the connection closes; nothing more is read."""
        self.messages.clear()
        self.closing = True
        self._pause_reading()
        shutdown = SHUTDOWN if self.send_events & SYSTEM else b""
        self.reply(shutdown, closing=True)

    def _leave_unauthenticated(self) -> None:
        self.factory.unauthenticated.pop(self, None)
        if self._deadline is not None and self._deadline.active():
            self._deadline.cancel()
        self._deadline = None

    def connectionLost(self, reason: Failure = protocol.connectionDone) -> None:
        self._leave_unauthenticated()
        self.factory.clients.discard(self)
        self.closing = True
        self.messages.clear()
        for timer in (self._failure, self._turn):
            if timer is not None and timer.active():
                timer.cancel()
        if self.user is not None:
            log.info("Manager {user!r} logged off from {peer}", user=self.user.name, peer=self.transport.getPeer())

    # Input.

    def dataReceived(self, data: bytes) -> None:
        if self.closing:
            return
        self.messages.extend(self.parser.feed(data))
        self._handle()

    def _handle(self) -> None:
        handled = 0
        while self.messages and not (self.paused or self.closing):
            if handled == MESSAGES_PER_TURN:
                self._pause_reading()
                self._turn = self.factory.call_later(0, self._next_turn)
                return
            self.message_received(self.messages.popleft())
            handled += 1

    def _next_turn(self) -> None:
        self._turn = None
        self._resume_reading()

    def pauseProducing(self) -> None:
        """Twisted: the transport's buffer is full; nothing is handled until it drains."""
        self._pause_reading()

    def resumeProducing(self) -> None:
        self._resume_reading()

    def stopProducing(self) -> None:
        self.closing = True

    def _pause_reading(self) -> None:
        if not self.paused:
            self.paused = True
            self.transport.pauseProducing()

    def _resume_reading(self) -> None:
        if self.paused and self._turn is None and not self.closing:
            self.paused = False
            self.transport.resumeProducing()
            self._handle()

    def message_received(self, message: Message) -> None:
        action_id = message.get("ActionID")
        if message.error is not None:
            self.reply(amiwire.error(action_id, message.error))
            return
        name = message.get_nonempty("Action")
        if not name:
            self.reply(amiwire.error(action_id, "Missing action in request"))
            return
        key = name.lower()
        if not self.authenticated and key not in BEFORE_LOGIN:
            self.reply(amiwire.error(action_id, "Permission denied"))
            return
        action = ACTIONS.get(key)
        if action is None:
            self.reply(
                amiwire.error(
                    action_id,
                    "Invalid/unknown command: %s. Use Action: ListCommands to show available commands." % name[:200],
                )
            )
            return
        if action.authority and not (self.user is not None and self.user.write & action.authority):
            self.reply(amiwire.error(action_id, "Permission denied"))
            return
        self._take_events()  # those before the action go out ahead of its reply
        self._acting = True
        try:
            getattr(self, action.method)(message, action_id)
        except ChangeRefusedError as refusal:  # a standby's, or the store's: like the JSON port's
            self.reply(amiwire.error(action_id, str(refusal)))
        finally:
            self._take_events()  # those the action caused, after its reply
            self._acting = False
        self._send_waiting_events()

    def _take_events(self) -> None:
        """Takes its share of the events the factory was given this turn since it last
        took them: ahead of its next write, or after its replies while one waits for the
        disk or its action runs. The factory joins each share once for all who hear the
        same classes."""
        factory = self.factory
        end = len(factory.turn_events)
        if self._taken < end:
            data = factory.events_between(self._taken, end, self.send_events)
            self._taken = end
            if data:
                (self._events_waiting if self._held or self._acting else self._outgoing).append(data)

    def _send_waiting_events(self) -> None:
        if self._events_waiting and not (self._held or self._acting):
            events, self._events_waiting = self._events_waiting, []
            self.deliver(b"".join(events))

    # Output: every byte to the client goes out through reply() or deliver().

    def reply(self, data: bytes, closing: bool = False) -> None:
        """A reply: out now, or with a journal once what the actions so far changed is on
        disk; when the disk refuses it, the reply becomes an error with the refusal."""
        self._take_events()
        durable_output = self.factory.durable_output
        waiting = None if durable_output is None else durable_output.when_durable()
        if waiting is None:
            self.deliver(data, closing)
            return
        self._held += 1
        waiting.addBoth(self._committed, data, closing)

    def _committed(self, result: Any, data: bytes, closing: bool) -> Any:
        self._take_events()  # those that came while it was held go after it
        self._held -= 1
        if not isinstance(result, Failure):
            self.deliver(data, closing)
        elif result.check(ChangeNotStored):
            self.deliver(amiwire.error("", str(result.value)), closing)
        else:
            self.factory.log_unexpected_failure(result)
            self.deliver(b"", closing)
        self._send_waiting_events()
        return result  # every connection waiting on the commit hears the same

    def deliver(self, data: bytes, closing: bool = False) -> None:
        if self.cut_off:
            return
        if self._outgoing:  # the events before it first
            data = b"".join(self._outgoing) + data
            self._outgoing = []
        unsent = 0 if data and send_now(self.transport, data) else unsent_bytes(self.transport)
        limit = self.factory.max_output_buffer
        if unsent > limit:
            self.cut_off = True
            log.warn(
                "Closing AMI connection from {peer}: it is not reading; {unsent} bytes of output unsent, "
                "past the limit of {limit} (--max-output-buffer)",
                peer=self.transport.getPeer(),
                unsent=unsent,
                limit=limit,
            )
            self.transport.abortConnection()
        elif closing:
            self.transport.unregisterProducer()  # a TLS connection closes only once it has none
            self.transport.loseConnection()

    def flush_events(self) -> None:
        """The end of a reactor turn: its events of the turn go out in one write."""
        if not self.closing:
            self._take_events()
            if self._outgoing:
                self.deliver(b"")
        self._taken = 0

    # The session's actions.

    def action_ping(self, message: Message, action_id: str) -> None:
        now = self.factory.clock()
        seconds = int(now)
        stamp = "%d.%06d" % (seconds, int((now - seconds) * 1e6))
        self.reply(amiwire.response(action_id, fields=(("Ping", "Pong"), ("Timestamp", stamp))))

    def action_events(self, message: Message, action_id: str) -> None:
        mask = amiwire.event_mask(message.get("EventMask"))
        if mask < 0:
            self.reply(amiwire.error(action_id, "Invalid event mask"))
            return
        assert self.user is not None
        self.send_events = self.user.read & mask
        self.reply(amiwire.response(action_id, fields=(("Events", "On" if mask else "Off"),)))

    def action_logoff(self, message: Message, action_id: str) -> None:
        self.closing = True
        self.reply(amiwire.response(action_id, "Goodbye", "Thanks for all the fish."), closing=True)

    def action_challenge(self, message: Message, action_id: str) -> None:
        if message.get("AuthType").lower() != "md5":
            self.reply(amiwire.error(action_id, "Must specify AuthType"))
            return
        if not self.challenge:
            self.challenge = str(random.SystemRandom().randrange(1 << 31))
        self.reply(amiwire.response(action_id, fields=(("Challenge", self.challenge),)))

    def action_login(self, message: Message, action_id: str) -> None:
        if self.authenticated:
            self.reply(amiwire.response(action_id, message="Already authenticated"))
            return
        username = message.get("Username")
        user = self.factory.users.get(username) if username else None
        if user is None or not self._secret_matches(user, message):
            self._fail_login(username, action_id)
            return
        self.user = user
        self._leave_unauthenticated()
        mask = amiwire.event_mask(message.get("Events"))  # -1 when not given: what it may read
        self.send_events = user.read if mask < 0 else user.read & mask
        log.info("Manager {user!r} logged on from {peer}", user=user.name, peer=self.transport.getPeer())
        self.reply(amiwire.response(action_id, message="Authentication accepted"))
        if self.send_events & SYSTEM:
            uptime = int(max(self.factory.clock() - self.factory.started, 0))
            self.reply(
                amiwire.event(
                    "FullyBooted",
                    SYSTEM,
                    (("Uptime", uptime), ("LastReload", uptime), ("Status", "Fully Booted")),
                )
            )

    def _secret_matches(self, user: AmiUser, message: Message) -> bool:
        if message.get("AuthType").lower() == "md5":
            key = message.get("Key")
            if not key or not self.challenge:
                return False
            expected = hashlib.md5((self.challenge + user.secret).encode("utf-8")).hexdigest()
            return hmac.compare_digest(key.encode("utf-8"), expected.encode("ascii"))
        return hmac.compare_digest(message.get("Secret").encode("utf-8"), user.secret.encode("utf-8"))

    def _fail_login(self, username: str, action_id: str) -> None:
        """Answered a second later, without holding up anything else, then closed; nothing
        more is read meanwhile."""
        log.warn(
            "AMI connection from {peer} failed to authenticate as {user!r}",
            peer=self.transport.getPeer(),
            user=username[:80],
        )
        self.closing = True
        self._leave_unauthenticated()
        self._pause_reading()
        self._failure = self.factory.call_later(
            LOGIN_FAILURE_DELAY, self.reply, amiwire.error(action_id, "Authentication failed"), True
        )

    def action_listcommands(self, message: Message, action_id: str) -> None:
        assert self.user is not None
        lines = [
            (action.name, "%s (Priv: %s)" % (action.synopsis, amiwire.privilege(action.authority)))
            for action in ACTIONS.values()
            if not action.authority or self.user.write & action.authority
        ]
        self.reply(amiwire.response(action_id, fields=lines))

    def action_coresettings(self, message: Message, action_id: str) -> None:
        self.reply(amiwire.response(action_id, fields=self.factory.core_settings()))

    def action_corestatus(self, message: Message, action_id: str) -> None:
        self.reply(amiwire.response(action_id, fields=self.factory.core_status()))

    # The queues' actions.

    def action_queuestatus(self, message: Message, action_id: str) -> None:
        view = self.factory.view
        wanted = message.get("Queue")
        member_filter = message.get("Member")
        now = self.factory.center_now()
        items = []
        for name in view.queue_names():
            if wanted and name.lower() != wanted.lower():
                continue
            items.append(amiwire.list_item("QueueParams", view.queue_params(name), action_id))
            for member in view.members(name):
                operator_id = member.operator.id
                if member_filter and member_filter not in (operator_id, "Agent/" + operator_id):
                    continue
                items.append(amiwire.list_item("QueueMember", view.queue_member(member), action_id))
            for position, call in enumerate(view.waiting(name), 1):
                items.append(amiwire.list_item("QueueEntry", view.queue_entry(name, position, call, now), action_id))
        self._list(action_id, "Queue status will follow", items, "QueueStatusComplete")

    def action_queuesummary(self, message: Message, action_id: str) -> None:
        view = self.factory.view
        wanted = message.get("Queue")
        now = self.factory.center_now()
        items = [
            amiwire.list_item("QueueSummary", view.queue_summary(name, now), action_id)
            for name in view.queue_names()
            if not wanted or name.lower() == wanted.lower()
        ]
        self._list(action_id, "Queue summary will follow", items, "QueueSummaryComplete")

    def _list(self, action_id: str, message: str, items: List[bytes], complete: str) -> None:
        pieces = [amiwire.response(action_id, message=message, event_list="start")]
        pieces.extend(items)
        pieces.append(amiwire.list_complete(complete, action_id, len(items)))
        self.reply(b"".join(pieces))

    def _execute(self, command: str, argument: str) -> Optional[str]:
        """Run a command on the call center; None when done, else the core's refusal (the
        store's, ChangeRefusedError, is the action's reply)."""
        try:
            self.factory.center.execute(command, argument)
        except ChangeRefusedError:
            raise
        except CallCenterError as refusal:
            return str(refusal)
        return None

    def action_queueadd(self, message: Message, action_id: str) -> None:
        view = self.factory.view
        queue_name, name = message.get("Queue"), message.get("Interface")
        if not queue_name:
            self.reply(amiwire.error(action_id, "'Queue' not specified."))
            return
        if not name:
            self.reply(amiwire.error(action_id, "'Interface' not specified."))
            return
        queue = view.queue_named(queue_name)
        if queue is None:
            self.reply(amiwire.error(action_id, "Unable to add interface to queue: No such queue"))
            return
        operator_id = operator_named(name)
        member_name = message.get("MemberName")
        if member_name and member_name != operator_id:
            self.reply(amiwire.error(action_id, "Unable to add interface: MemberName must be the operator id"))
            return
        if view.member(queue, operator_id) is not None:
            self.reply(amiwire.error(action_id, "Unable to add interface: Already there"))
            return
        if not (view.is_dynamic(operator_id) and queue == view.queue_names()[0]):
            # The core adds operators (login) to the first queue only; the others are the file's.
            self.reply(amiwire.error(action_id, "Unable to add interface: Not in the queues file"))
            return
        refusal = self._execute("login", operator_id)
        if refusal is None and amiwire.is_true(message.get("Paused")):
            reason = " ".join(message.get("Reason").split())
            refusal = self._execute("pause", (operator_id + " " + reason).strip())
        if refusal is not None:
            self.reply(amiwire.error(action_id, "Unable to add interface: %s" % refusal))
            return
        self.reply(amiwire.response(action_id, message="Added interface to queue"))

    def action_queueremove(self, message: Message, action_id: str) -> None:
        view = self.factory.view
        queue_name, name = message.get("Queue"), message.get("Interface")
        if not queue_name or not name:
            self.reply(amiwire.error(action_id, "Need 'Queue' and 'Interface' parameters."))
            return
        queue = view.queue_named(queue_name)
        if queue is None:
            self.reply(amiwire.error(action_id, "Unable to remove interface from queue: No such queue"))
            return
        operator_id = operator_named(name)
        member = view.member(queue, operator_id)
        if member is None:
            self.reply(amiwire.error(action_id, "Unable to remove interface: Not there"))
            return
        if not member.dynamic:
            self.reply(amiwire.error(action_id, "Member not dynamic"))
            return
        refusal = self._execute("logout", operator_id)
        if refusal is not None:
            self.reply(amiwire.error(action_id, "Unable to remove interface: %s" % refusal))
            return
        self.reply(amiwire.response(action_id, message="Removed interface from queue"))

    def _members_named(self, interface: str, queue_name: str) -> List[Member]:
        """The memberships of the operator behind ``interface``: in ``queue_name``, or in
        every queue when it is empty (QueuePause's and QueuePenalty's ``Queue``)."""
        view = self.factory.view
        operator_id = operator_named(interface)
        if not queue_name:
            return view.memberships(operator_id)
        queue = view.queue_named(queue_name)
        member = None if queue is None else view.member(queue, operator_id)
        return [] if member is None else [member]

    def action_queuepause(self, message: Message, action_id: str) -> None:
        name, paused_text = message.get("Interface"), message.get("Paused")
        if not name or not paused_text:
            self.reply(amiwire.error(action_id, "Need 'Interface' and 'Paused' parameters."))
            return
        members = self._members_named(name, message.get("Queue"))
        if not members:
            self.reply(amiwire.error(action_id, "Interface not found"))
            return
        pause = amiwire.is_true(paused_text)
        # Asked for what already is (paused, or to pause once its call ends): nothing to do.
        operator = members[0].operator
        operator_id = operator.id
        if pause:
            reason = " ".join(message.get("Reason").split())
            done = operator.state is PAUSED or operator.pending is PAUSED
            refusal = None if done else self._execute("pause", (operator_id + " " + reason).strip())
        else:
            done = not (operator.state is PAUSED or operator.pending is PAUSED)
            refusal = None if done else self._execute("unpause", operator_id)
        if refusal is not None:
            self.reply(amiwire.error(action_id, "Interface not found"))
            return
        self.reply(
            amiwire.response(
                action_id, message="Interface paused successfully" if pause else "Interface unpaused successfully"
            )
        )

    def action_queuepenalty(self, message: Message, action_id: str) -> None:
        name, penalty_text = message.get("Interface"), message.get("Penalty")
        if not name or not penalty_text:
            self.reply(amiwire.error(action_id, "Need 'Interface' and 'Penalty' parameters."))
            return
        queue_name = message.get("Queue")
        members = self._members_named(name, queue_name)
        penalty = leading_int(penalty_text)
        if not members or not 0 <= penalty <= MAX_LEVEL:
            self.reply(amiwire.error(action_id, "Invalid interface, queuename or penalty"))
            return
        # The level it has already (in every queue asked): nothing to change, as Asterisk succeeds.
        view = self.factory.view
        if any(view.level_now(member.queue, member.operator.id) != penalty for member in members):
            argument = "%s %d" % (members[0].operator.id, penalty)
            if queue_name:
                argument += " queue=" + members[0].queue
            if self._execute("level", argument) is not None:
                self.reply(amiwire.error(action_id, "Invalid interface, queuename or penalty"))
                return
        self.reply(amiwire.response(action_id, message="Interface penalty set successfully"))

    def action_queuereset(self, message: Message, action_id: str) -> None:
        # The figures are the ones ``stats`` shows since the start: they are not reset.
        self.reply(amiwire.error(action_id, "Error encountered while resetting queue stats"))

    # Calls.

    def action_originate(self, message: Message, action_id: str) -> None:
        view = self.factory.view
        channel = message.get("Channel")
        if not channel:
            self.reply(amiwire.error(action_id, "Channel not specified"))
            return
        timeout = message.get("Timeout")
        if timeout and leading_int(timeout, None) is None:
            self.reply(amiwire.error(action_id, "Invalid timeout"))
            return
        if "/" not in channel:
            self.reply(amiwire.error(action_id, "Invalid channel"))
            return
        application, data = message.get("Application"), message.get("Data")
        queue = view.queue_named(data.split(",")[0].strip()) if application.lower() == "queue" else None
        name, number = parse_callerid(message.get("CallerID"))
        asynchronous = amiwire.is_true(message.get("Async"))
        if application.lower() != "queue" or queue is None or not number:
            # Only a call into a queue can be placed here: no dialplan, no other application.
            self.reply(amiwire.error(action_id, "Originate failed"))
            return
        argument = number if queue == view.queue_names()[0] else "%s queue=%s" % (number, queue)
        refusal = self._execute("call", argument)
        placed = refusal is None and view.uniqueid_of(number) is not None
        if not asynchronous:
            if placed:
                self.reply(amiwire.response(action_id, message="Originate successfully queued"))
            else:
                self.reply(amiwire.error(action_id, "Originate failed"))
            return
        self.reply(amiwire.response(action_id, message="Originate successfully queued"))
        fields: List[Tuple[str, object]] = [("ActionID", action_id)] if action_id else []
        fields.extend(
            (
                ("Response", "Success" if placed else "Failure"),
                ("Channel", caller_channel(number) if placed else channel),
                ("Application", application),
                ("Data", data),
                ("Reason", 4 if placed else 0),  # AST_CONTROL_ANSWER, or a failure
                ("Uniqueid", view.uniqueid_of(number) if placed else "<unknown>"),
                ("CallerIDNum", number),
                ("CallerIDName", name or "<unknown>"),
            )
        )
        self.factory.broadcast(CALL, amiwire.event("OriginateResponse", CALL, fields))

    def action_hangup(self, message: Message, action_id: str) -> None:
        channel = message.get("Channel")
        if not channel:
            self.reply(amiwire.error(action_id, "No channel specified"))
            return
        call_id = call_of_channel(channel)
        if call_id is not None:
            refusal = self._execute("hangup", call_id)
        elif channel.startswith(INTERFACE_PREFIX):
            refusal = self._hang_up_member(channel[len(INTERFACE_PREFIX) :])
        else:
            refusal = "not a channel here"
        if refusal is not None:
            self.reply(amiwire.error(action_id, "No such channel"))
            return
        self.reply(amiwire.response(action_id, message="Channel Hungup"))

    def _hang_up_member(self, operator_id: str) -> Optional[str]:
        """The member's leg ``Agent/<id>`` hangs up: on its call, the operator ends it (the
        core's ``finish``: Reason ``agent``); while it rings, it declines it (``reject``:
        ``AgentRingNoAnswer``, as a member's phone that hangs up while ringing). Else there is
        no such channel."""
        operator = self.factory.view.operator(operator_id)
        if operator is None:
            return "no such operator"
        if operator.state is BUSY:
            return self._execute("finish", operator_id)
        if operator.state is RINGING:
            return self._execute("reject", operator_id)
        return "no call"


def leading_int(text: str, default: Any = 0) -> Any:
    """C's ``atoi`` (sscanf ``%d``): the whole number at the start of ``text``."""
    text = text.strip()
    digits = 1 if text[:1] in ("-", "+") else 0
    while digits < len(text) and text[digits].isdigit():
        digits += 1
    try:
        return int(text[:digits])
    except ValueError:
        return default


def parse_callerid(text: str) -> Tuple[str, str]:
    """``"Name" <number>``, ``Name <number>`` or a bare number, as (name, number); the
    number is a call id here, so it keeps what a call id may hold (no spaces)."""
    text = text.strip()
    if "<" in text and text.endswith(">"):
        name, _, number = text[:-1].rpartition("<")
        return name.strip().strip('"').strip(), "".join(number.split())
    if text and not any(character.isspace() for character in text):
        return "", text
    return text.strip('"'), ""


class RefusedProtocol(protocol.Protocol):
    """A manager connection beyond ``--max-connections``: the banner, one error, closed."""

    transport: Any = None

    def __init__(self, limit: int) -> None:
        self.limit = limit

    def connectionMade(self) -> None:
        self.transport.write(amiwire.BANNER + amiwire.error("", "Too many connections (limit %d)" % self.limit))
        self.transport.loseConnection()


class AmiFactory(protocol.Factory):
    """The manager port: its users, its connections, the call center they act on."""

    protocol = AmiProtocol  # type: ignore[assignment]

    def __init__(
        self,
        center: ICallCenter,
        view: QueueView,
        users: Dict[str, AmiUser],
        call_later: Callable[..., Any],
        clock: Callable[[], float],
        max_output_buffer: int,
        max_connections: int,
        auth_timeout: float,
        max_unauthenticated: int,
        durable_output: Optional[IDurableOutput] = None,
        leadership: Optional[ILeadership] = None,
    ) -> None:
        """``center`` runs the actions (the durable one with a journal); ``view`` reads the
        queues; ``clock`` is the wall clock (Ping, uptime); ``leadership``: with a replicated
        store, every client is closed when this server stops leading, as the JSON port's."""
        self.center = center
        self.view = view
        self.users = users
        self.call_later = call_later
        self.clock = clock
        self.started = clock()
        self.max_output_buffer = max_output_buffer
        self.max_connections = max_connections
        self.auth_timeout = auth_timeout
        self.max_unauthenticated = max_unauthenticated
        self.durable_output = durable_output
        self.clients: "Set[AmiProtocol]" = set()
        self.unauthenticated: "OrderedDict[AmiProtocol, None]" = OrderedDict()
        self.events_sent = 0
        # The events of this reactor turn as (classes, bytes), each encoded once; the
        # clients take their shares of them, joined once for each set of classes.
        self.turn_events: List[Tuple[int, bytes]] = []
        self._shares: Dict[Tuple[int, int, int], bytes] = {}
        self._flush_timer: Any = None
        self._failure_logged: Optional[Failure] = None
        if leadership is not None:
            leadership.when_stepping_down(self.close_all)
        self.count_refused = CountingLog(
            call_later,
            lambda count: log.warn(
                "Refused {count} AMI connection(s) since the last such message: too many connections "
                "(limit {limit}, --max-connections)",
                count=count,
                limit=max_connections,
            ),
        )

    def center_now(self) -> float:
        return float(self.view.center.now())

    def buildProtocol(self, addr: Any) -> Any:
        if len(self.clients) >= self.max_connections and self.unauthenticated:
            self._expel_oldest_unauthenticated()
        if len(self.clients) >= self.max_connections:
            self.count_refused()
            return RefusedProtocol(self.max_connections)
        return protocol.Factory.buildProtocol(self, addr)

    def stopFactory(self) -> None:
        self.count_refused.flush()

    def admit_unauthenticated(self, client: AmiProtocol) -> None:
        """Like the JSON port: when the pool of those not logged in is full, the oldest goes."""
        if len(self.unauthenticated) >= self.max_unauthenticated:
            self._expel_oldest_unauthenticated()
        self.unauthenticated[client] = None

    def _expel_oldest_unauthenticated(self) -> None:
        oldest = next(iter(self.unauthenticated))
        oldest.expel("too many connections waiting to log in (limit %d)" % self.max_unauthenticated)

    def log_unexpected_failure(self, failure: Failure) -> None:
        if failure is not self._failure_logged:
            self._failure_logged = failure
            log.failure("A commit failed unexpectedly; what waited on it was not sent", failure)

    def close_all(self, line: str) -> None:
        """This server stopped leading: every client gets the replies it is owed, then, when
        it hears system events, Asterisk's ``Shutdown`` (an AMI client reconnects on it), and
        is closed; ``line`` is logged."""
        clients = list(self.clients)
        log.info("Closing {count} AMI connections: {line}", count=len(clients), line=line)
        for client in clients:
            client.close_with_shutdown()

    def hears(self, authority: int) -> bool:
        """Whether any client logged in hears events of ``authority``'s classes now."""
        for client in self.clients:
            if client.send_events & authority == authority:
                return True
        return False

    def broadcast(self, authority: int, data: bytes) -> None:
        """An event to every client logged in that hears its classes. It is kept for the
        turn: each client's events of one reactor turn go out in one write, at its end (or
        before its next reply); those that come while replies wait (for the disk, or the
        action running) follow them. Nothing here runs for each client: the cost of an
        event does not grow with the clients listening."""
        self.events_sent += 1
        self.turn_events.append((authority, data))
        if self._flush_timer is None:
            self._flush_timer = self.call_later(0, self._flush)

    def events_between(self, start: int, end: int, mask: int) -> bytes:
        """The events of this turn from ``start`` to ``end`` that a client hearing ``mask``
        hears, joined once for every client that asks for the same."""
        if not mask:
            return b""
        key = (start, end, mask)
        data = self._shares.get(key)
        if data is None:
            data = self._shares[key] = b"".join(
                event for authority, event in self.turn_events[start:end] if mask & authority == authority
            )
        return data

    def _flush(self) -> None:
        self._flush_timer = None
        for client in list(self.clients):  # a client cut off leaves the set
            client.flush_events()
        self.turn_events = []
        self._shares = {}

    def core_settings(self) -> List[Tuple[str, object]]:
        import callcenter

        user, group = run_user_and_group()
        return [
            ("AMIversion", amiwire.AMI_VERSION),
            ("AsteriskVersion", "%s (callcenter %s)" % (ASTERISK_VERSION, callcenter.__version__)),
            ("SystemName", ""),
            ("CoreMaxCalls", 0),
            ("CoreMaxLoadAvg", "%f" % 0.0),
            ("CoreRunUser", user),
            ("CoreRunGroup", group),
            ("CoreMaxFilehandles", 0),
            ("CoreRealTimeEnabled", "No"),
            ("CoreCDRenabled", "No"),
            ("CoreHTTPenabled", "No"),
            ("SoundsSearchCustomDir", "No"),
        ]

    def core_status(self) -> List[Tuple[str, object]]:
        started = time.localtime(self.started)
        date, clock = time.strftime("%Y-%m-%d", started), time.strftime("%H:%M:%S", started)
        return [
            ("CoreStartupDate", date),
            ("CoreStartupTime", clock),
            ("CoreReloadDate", date),
            ("CoreReloadTime", clock),
            ("CoreCurrentCalls", self.view.calls_in_progress()),
            ("CoreProcessedCalls", self.view.center.figures.received),
        ]


def run_user_and_group() -> Tuple[str, str]:
    """The names of the user and group the server runs as (CoreSettings)."""
    try:
        import grp
        import pwd

        return pwd.getpwuid(os.getuid()).pw_name, grp.getgrgid(os.getgid()).gr_name
    except (ImportError, KeyError):
        return str(os.getuid()), str(os.getgid())
