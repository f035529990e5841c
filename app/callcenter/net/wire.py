"""The wire format: newline-delimited UTF-8 JSON objects, encoded and decoded.

Layer: protocols, its pure half (no Twisted, no I/O); ``protocol.py`` frames and sends.

Request  ``{"command": "call", "id": "1"}`` (``status``, ``stats``, ``operators`` and ``queues`` take no id)
Auth     ``{"command": "auth", "token": "..."}``, first, when the server has a token
Reply    ``{"response": "Call 1 received\\nCall 1 ringing for operator A"}``
         or ``{"error": "<why>"}``: exactly one per request, in request order
Event    ``{"event": "Call 1 ignored by operator A\\nCall 1 ringing for operator B"}``
         to every connected client when a ring times out
Subscribe ``{"command": "subscribe"}``, answered ``{"response": "subscribed"}``: from then on
         every reply and event to that connection also carries ``"events": [{"event":
         "CallRinging", "at": ..., ...}, ...]``, its events as objects

docs/protocol.md has the whole of it.
"""

import json
import re
from typing import Any, Dict, List, Optional, Sequence, Tuple

from callcenter.core.model import is_digits
from callcenter.core.queues import MAX_LEVEL
from callcenter.core.rendering import text_of

# The C encoder of JSON strings (always pure ASCII, so valid UTF-8 as it is).
_json_string = json.encoder.encode_basestring_ascii
_decoder = json.JSONDecoder()
# A JSON string's characters with nothing to unescape: no quote, backslash or control character.
_usual_request = re.compile(r'\{"command": ?"([^"\\\x00-\x1f]*)", ?"id": ?"([^"\\\x00-\x1f]*)"\}').fullmatch
_WHITESPACE = re.compile(r"[ \t\n\r]*")  # JSON's, as json.loads skips it

# The client's requests for the operator ids and the queue names (for completion): one a line
# in the response.
OPERATORS_REQUEST = "operators"
QUEUES_REQUEST = "queues"
# The client's request for whether the server leads (with --etcd): "leader", or
# "standby: the leader is NAME"; a server on its own leads.
ROLE_REQUEST = "role"
AUTH_REQUEST = "auth"
SUBSCRIBE_REQUEST = "subscribe"
MESSAGE_KINDS = ("response", "error", "event")
# The fields a request may hold beyond "command" and "id": the words after the id.
CALL_FIELDS = ("priority", "queue")
PAUSE_FIELD = "reason"
LEVEL_FIELD = "level"


class WireError(Exception):
    """Bytes that are not a request (or, to the client, not a server message): the message
    is one line for whoever sent them."""


def encode(kind: str, message: str) -> bytes:
    """One message line: ``{"<kind>": "<message>"}`` and its newline."""
    return ('{"%s": %s}\n' % (kind, _json_string(message))).encode("ascii")


RESPONSE = '{"response": %s}\n'


def encode_reply(events: Sequence[Any]) -> bytes:
    """``encode("response", ...)`` of the lines of ``events`` (``rendering.text_of``): a
    command's reply."""
    return (RESPONSE % _json_string(text_of(events))).encode("ascii")


def encode_with_events(kind: str, message: str, events: Sequence[Any]) -> bytes:
    """One message line of a subscribed connection: ``{"<kind>": "<message>", "events":
    [...]}``, each event as its JSON object (``Event.to_dict``)."""
    return ('{"%s": %s, "events": %s}\n' % (kind, _json_string(message), events_json(events))).encode("ascii")


def events_json(events: Sequence[Any]) -> str:
    """The JSON array of ``events``' objects (pure ASCII)."""
    return json.dumps([event.to_dict() for event in events])


def encode_request(command: str, argument: Optional[str]) -> bytes:
    """A request as the assignment's table writes it; the words after the id (``priority=N``,
    a pause reason) become fields."""
    return (json.dumps(request_fields(command, argument)) + "\n").encode("utf-8")


def request_fields(command: str, argument: Optional[str]) -> Dict[str, Any]:
    """``{"command": ..., "id": ...}`` and the words after the id as their fields. Words the
    core would refuse are left in the id, where the server refuses them the same way."""
    request: Dict[str, Any] = {"command": command}
    if argument is None:
        return request
    first, _, rest = argument.partition(" ")
    if rest and command == "pause":
        request["id"], request[PAUSE_FIELD] = first, rest
    elif rest and command == "level" and level_words(rest.split()):
        words = rest.split()
        request["id"] = first
        request[LEVEL_FIELD] = int(words[0]) if is_digits(words[0]) else words[0]
        if len(words) == 2:
            request["queue"] = words[1][len("queue=") :]
    elif rest and command == "call" and all(word.partition("=")[0] in CALL_FIELDS for word in rest.split()):
        request["id"] = first
        for word in rest.split():
            key, _, value = word.partition("=")
            request[key] = int(value) if key == "priority" and is_digits(value) else value
    else:
        request["id"] = argument
    return request


def level_words(words: List[str]) -> bool:
    """Whether the words after ``level <id>`` are a level and, maybe, ``queue=NAME``."""
    return "=" not in words[0] and (len(words) == 1 or (len(words) == 2 and words[1].startswith("queue=")))


def argument_of(command: str, argument: Optional[str], value: Dict[str, Any]) -> Optional[str]:
    """The core's argument for a request: the id, then its fields as words (the core checks
    a priority's range). WireError for a field that cannot be such a word."""
    words = [] if argument is None else [argument]
    if command == "call" and "priority" in value:
        priority = str(value["priority"])
        if not priority or any(character.isspace() for character in priority):
            raise WireError('"priority" must be a whole number from 0 to 9')
        words.append("priority=" + priority)
    if command == "level" and LEVEL_FIELD in value:
        level = value[LEVEL_FIELD]
        if isinstance(level, bool) or not isinstance(level, (int, str)) or not is_digits(str(level)):
            raise WireError('"level" must be a whole number from 0 to %d' % MAX_LEVEL)
        words.append(str(level))
    if command in ("call", "level") and "queue" in value:
        queue = value["queue"]
        if not isinstance(queue, str) or not queue or any(character.isspace() for character in queue):
            raise WireError('"queue" must be a queue name')
        words.append("queue=" + queue)
    if command == "pause" and value.get(PAUSE_FIELD) is not None:
        reason = value[PAUSE_FIELD]
        if not isinstance(reason, str):
            raise WireError('"reason" must be a string')
        words.append(reason)
    if (len(words) > 1 or (words and command == "level")) and argument is None:
        raise WireError("%s needs an id" % command)
    return " ".join(words) if words else None


def encode_auth(token: str) -> bytes:
    return (json.dumps({"command": AUTH_REQUEST, "token": token}) + "\n").encode("utf-8")


def load_line(line: bytes) -> Tuple[Any, Optional[List[bytes]]]:
    """``(value, None)`` for a line holding one JSON value; ``(None, parts)`` for a line
    holding several back to back (``{...}{...}``), each part a request of its own (what
    follows a part that is not JSON is one more, bad, request). :class:`WireError` when
    the line is not UTF-8 or not JSON."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        raise WireError("request is not valid UTF-8") from None
    if text[:1] == "{" and text[-1:] == "}":  # the usual request: one object, nothing around it
        try:
            value, end = _decoder.raw_decode(text)
        except (ValueError, RecursionError):
            raise WireError("request is not valid JSON") from None
        if end == len(text):
            return value, None
    start = _WHITESPACE.match(text).end()  # type: ignore[union-attr]
    try:
        value, end = _decoder.raw_decode(text, start)
    except (ValueError, RecursionError):
        raise WireError("request is not valid JSON") from None
    if _WHITESPACE.match(text, end).end() == len(text):  # type: ignore[union-attr]
        return value, None
    if start:
        # Values back to back after leading whitespace have always been one bad request.
        raise WireError("request is not valid JSON")
    return None, split_values(text)


def usual_request(line: bytes) -> Optional[Tuple[str, str]]:
    """``(command, id)`` of the usual request line, ``{"command": "...", "id": "..."}`` as
    ``json.dumps`` writes it (or without its spaces), with nothing around it and no escape
    or control character in its strings; None for any other line, which ``load_line`` and
    ``request_of`` tell. What it takes, the JSON decoder takes alike: one match instead of
    a dictionary and its four strings."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        return None
    match = _usual_request(text)
    return None if match is None else match.groups()  # type: ignore[return-value]


def split_values(text: str) -> List[bytes]:
    """Each JSON value's text in ``text``; what follows a part that is not JSON is one more part."""
    parts = []
    position = 0
    while position < len(text):
        try:
            _, end = _decoder.raw_decode(text, position)
        except (ValueError, RecursionError):
            end = len(text)
        parts.append(text[position:end].encode("utf-8"))
        position = _WHITESPACE.match(text, end).end()  # type: ignore[union-attr]
    return parts


def request_of(value: Any) -> Tuple[str, Optional[str]]:
    """``(command, id or None)`` from one decoded request; WireError when it is not one."""
    if not isinstance(value, dict):
        raise WireError('request must be a JSON object like {"command": "call", "id": "1"}')
    command = value.get("command")
    if not isinstance(command, str):
        raise WireError('request needs a "command" string')
    argument = value.get("id")
    if argument is not None and not isinstance(argument, str):
        if isinstance(argument, int) and not isinstance(argument, bool):
            argument = str(argument)  # {"id": 1} is call "1"
        else:
            raise WireError('"id" must be a string')
    if len(value) <= 2 and (argument is not None or len(value) == 1):
        return command, argument  # no field beyond the command and its id: the usual request
    return command, argument_of(command, argument, value)


def token_of(value: Any) -> Optional[str]:
    """The token of an auth request's value; None for any other value."""
    if isinstance(value, dict) and value.get("command") == AUTH_REQUEST and isinstance(value.get("token"), str):
        return value["token"]
    return None


def decode_message(line: bytes) -> Tuple[str, str]:
    """``(kind, message)`` from a server line; kind is response, error or event."""
    kind, text, events = decode_subscribed(line)
    if events is not None:
        raise WireError("the server sent an unexpected message: %r" % (line[:80],))
    return kind, text


def decode_subscribed(line: bytes) -> Tuple[str, str, Optional[List[Dict[str, Any]]]]:
    """``(kind, message, events)`` from a server line to a subscribed connection: events is
    the list of its events' objects (None in a line without them, like the reply to
    ``subscribe`` itself)."""
    try:
        message = json.loads(line.decode("utf-8"))
    except (ValueError, RecursionError):
        raise WireError("the server sent a line that is not JSON: %r" % (line[:80],)) from None
    if isinstance(message, dict) and 1 <= len(message) <= 2:
        events = message.pop("events", None)
        if len(message) == 1 and (events is None or isinstance(events, list)):
            ((kind, text),) = message.items()
            if kind in MESSAGE_KINDS and isinstance(text, str):
                return kind, text, events
    raise WireError("the server sent an unexpected message: %r" % (line[:80],))
