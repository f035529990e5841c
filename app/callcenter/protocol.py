"""The wire protocol: newline-delimited UTF-8 JSON objects.

Request  ``{"command": "call", "id": "1"}`` (``status`` takes no id)
Reply    ``{"response": "Call 1 received\\nCall 1 ringing for operator A"}``
         or ``{"error": "<why>"}``: exactly one per request, in request order
Event    ``{"event": "Call 1 ignored by operator A\\nCall 1 ringing for operator B"}``
         to every connected client when a ring times out
"""

import json
from typing import Any, List, Optional, Set, Tuple

from twisted.internet import protocol
from twisted.logger import Logger
from twisted.python.failure import Failure

from callcenter.core import CallCenter, CallCenterError
from callcenter.lines import LineReceiver

log = Logger()

# The C encoder of JSON strings (always pure ASCII, so valid UTF-8 as it is).
_json_string = json.encoder.encode_basestring_ascii


def encode(kind: str, message: str) -> bytes:
    """One message line: ``{"<kind>": "<message>"}`` and its newline."""
    return ('{"%s": %s}\n' % (kind, _json_string(message))).encode("ascii")


def encode_request(command: str, argument: Optional[str]) -> bytes:
    """A request as the assignment's table writes it."""
    request = {"command": command}
    if argument is not None:
        request["id"] = argument
    return (json.dumps(request) + "\n").encode("utf-8")


def decode_request(line: bytes) -> Tuple[str, Optional[str]]:
    """``(command, id or None)`` from a request line; CallCenterError when it is not one."""
    try:
        request = json.loads(line.decode("utf-8"))
    except UnicodeDecodeError:
        raise CallCenterError("request is not valid UTF-8") from None
    except (ValueError, RecursionError):
        raise CallCenterError("request is not valid JSON") from None
    if not isinstance(request, dict):
        raise CallCenterError('request must be a JSON object like {"command": "call", "id": "1"}')
    command = request.get("command")
    if not isinstance(command, str):
        raise CallCenterError('request needs a "command" string')
    argument = request.get("id")
    if argument is not None and not isinstance(argument, str):
        raise CallCenterError('"id" must be a string')
    return command, argument


def decode_message(line: bytes) -> Tuple[str, str]:
    """``(kind, message)`` from a server line; kind is response, error or event."""
    try:
        message = json.loads(line.decode("utf-8"))
    except (ValueError, RecursionError):
        raise CallCenterError("the server sent a line that is not JSON: %r" % (line[:80],)) from None
    if isinstance(message, dict) and len(message) == 1:
        ((kind, text),) = message.items()
        if kind in ("response", "error", "event") and isinstance(text, str):
            return kind, text
    raise CallCenterError("the server sent an unexpected message: %r" % (line[:80],))


class CallCenterServerProtocol(LineReceiver):
    """One client connection of the server."""

    factory: "CallCenterServerFactory"

    def connectionMade(self) -> None:
        self.factory.clients.add(self)
        log.info("Connection from {peer}", peer=self.transport.getPeer())

    def connectionLost(self, reason: Failure = protocol.connectionDone) -> None:
        self.factory.clients.discard(self)
        log.info("Connection from {peer} closed", peer=self.transport.getPeer())

    def lineReceived(self, line: bytes) -> None:
        self.transport.write(self.factory.reply(line))

    def lineLengthExceeded(self, line: bytes) -> None:
        self.transport.write(encode("error", "request longer than %d bytes" % self.MAX_LENGTH))


class CallCenterServerFactory(protocol.Factory):
    """The one call center that every connection shares."""

    protocol = CallCenterServerProtocol  # type: ignore[assignment]

    def __init__(self, operator_ids: List[str], call_later: Any, ring_timeout: float) -> None:
        self.center = CallCenter(operator_ids, call_later, ring_timeout, self.broadcast)
        self.clients: "Set[CallCenterServerProtocol]" = set()

    def reply(self, line: bytes) -> bytes:
        """The reply line to one request line."""
        try:
            command, argument = decode_request(line)
            return encode("response", "\n".join(self.center.execute(command, argument)))
        except CallCenterError as error:
            log.debug("Bad request {request!r}: {error}", request=line[:200], error=error)
            return encode("error", str(error))

    def broadcast(self, lines: List[str]) -> None:
        """A ring timed out: tell every client."""
        message = encode("event", "\n".join(lines))
        for client in self.clients:
            client.transport.write(message)
        log.info("{event} (sent to {count} clients)", event=" / ".join(lines), count=len(self.clients))


class CallCenterClientProtocol(LineReceiver):
    """The client's connection: requests out, replies and events in."""

    factory: "CallCenterClientFactory"
    MAX_LENGTH = 1 << 26  # a status reply lists every operator and queued call

    def connectionMade(self) -> None:
        self.factory.client.connected(self)

    def connectionLost(self, reason: Failure = protocol.connectionDone) -> None:
        self.factory.client.disconnected(reason)

    def lineReceived(self, line: bytes) -> None:
        client = self.factory.client
        try:
            kind, text = decode_message(line)
        except CallCenterError as error:
            client.output.error(str(error))
            return
        if kind == "event":
            client.output.lines(text.split("\n"))
        else:
            client.replied(kind, text)

    def lineLengthExceeded(self, line: bytes) -> None:
        self.factory.client.replied("error", "the server sent a line longer than %d bytes" % self.MAX_LENGTH)


class CallCenterClientFactory(protocol.Factory):
    """Builds the client's connections, each reporting to the one :class:`RemoteCallCenter`."""

    protocol = CallCenterClientProtocol  # type: ignore[assignment]

    def __init__(self, client: Any) -> None:
        self.client = client
