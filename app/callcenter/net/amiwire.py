"""The Asterisk Manager Interface's wire: ``Key: Value`` lines, a blank line ends a message.

Layer: protocols, its pure half (no Twisted, no I/O); ``ami.py`` frames and sends. The facts are
Asterisk 20's ``main/manager.c``: a line ends in ``\\r\\n`` or a bare ``\\n``; a line is at most
1024 bytes (longer: ``Failed to parse message: line too long``, answered when its message
ends); a message holds at most 128 lines (more: ``Too many lines in message or allocation
failure``); a header is looked up case-insensitively, its value with leading blanks skipped.
The server writes ``\\r\\n`` everywhere. docs/ami.md has the whole of it.
"""

from typing import Dict, List, Optional, Sequence, Tuple

AMI_VERSION = "9.0.0"  # Asterisk 20's
BANNER = ("Asterisk Call Manager/%s\r\n" % AMI_VERSION).encode("ascii")
MAX_LINE = 1024  # bytes of one line, its ending not counted (manager.c's inbuf)
MAX_HEADERS = 128  # lines of one message (AST_MAX_MANHEADERS)
LINE_TOO_LONG = "Failed to parse message: line too long"
TOO_MANY_LINES = "Too many lines in message or allocation failure"

# The classes of manager.conf's read= and write= and of an event's Privilege, in Asterisk's
# order (manager.c's perms[]), each with its bit.
CLASSES = (
    "system",
    "call",
    "log",
    "verbose",
    "command",
    "agent",
    "user",
    "config",
    "dtmf",
    "reporting",
    "cdr",
    "dialplan",
    "originate",
    "agi",
    "cc",
    "aoc",
    "test",
    "security",
    "message",
)
CLASS_BITS = {name: 1 << position for position, name in enumerate(CLASSES)}
ALL = (1 << len(CLASSES)) - 1
SYSTEM = CLASS_BITS["system"]
CALL = CLASS_BITS["call"]
AGENT = CLASS_BITS["agent"]
REPORTING = CLASS_BITS["reporting"]
ORIGINATE = CLASS_BITS["originate"]

Fields = Sequence[Tuple[str, object]]


class Message(object):
    """One message from a client: its lines as ``(key, value)`` in order (a line with no
    colon has the key None), and ``error`` when it broke a limit (then it is answered
    with that error instead of being run)."""

    __slots__ = ("error", "headers")

    def __init__(self, headers: "List[Tuple[Optional[str], str]]", error: Optional[str] = None) -> None:
        self.headers = headers
        self.error = error

    def get(self, key: str) -> str:
        """The value of the first line named ``key`` (any case), "" when there is none."""
        wanted = key.lower()
        for name, value in self.headers:
            if name is not None and name.lower() == wanted:
                return value
        return ""

    def get_nonempty(self, key: str) -> str:
        """The first non-empty value named ``key`` (Asterisk looks up ``Action`` so)."""
        wanted = key.lower()
        for name, value in self.headers:
            if name is not None and value and name.lower() == wanted:
                return value
        return ""

    def __repr__(self) -> str:
        # Never the values: a Login's Secret would end up in a log.
        return "Message(%s)" % ", ".join(str(name) for name, _ in self.headers)


def header(line: bytes) -> "Tuple[Optional[str], str]":
    """``Key: Value`` as ``(key, value)``: the value after the first colon, leading blanks
    skipped; a line without a colon has no key. Bytes that are not UTF-8 are replaced."""
    text = line.decode("utf-8", "replace")
    key, colon, value = text.partition(":")
    if not colon:
        return None, text
    return key, value.lstrip(" \t")


class MessageParser(object):
    """Bytes in, whole messages out, in constant memory per connection: at most one line
    (``MAX_LINE``) and one message's ``MAX_HEADERS`` lines are held.

    ``feed(data)`` returns the messages ``data`` completed. A blank line ends a message,
    even one with no lines (which Asterisk answers ``Missing action in request``)."""

    __slots__ = ("_buffer", "_error", "_headers", "_skipping")

    def __init__(self) -> None:
        self._buffer = b""
        self._headers: "List[Tuple[Optional[str], str]]" = []
        self._error: Optional[str] = None
        self._skipping = False  # inside an over-long line, until its newline

    def feed(self, data: bytes) -> List[Message]:
        messages: List[Message] = []
        buffer = self._buffer + data if self._buffer else data
        lines = buffer.split(b"\n")
        rest = lines.pop()
        for line in lines:
            if self._skipping:
                self._skipping = False
                continue
            if line[-1:] == b"\r":
                line = line[:-1]
            if len(line) > MAX_LINE:
                self._fail(LINE_TOO_LONG)
            elif not line:
                messages.append(Message(self._headers, self._error))
                self._headers, self._error = [], None
            elif len(self._headers) >= MAX_HEADERS:
                self._fail(TOO_MANY_LINES)
            else:
                self._headers.append(header(line))
        if self._skipping:
            rest = b""
        elif len(rest) > MAX_LINE + 1:  # + 1: the \r of a line ending not here yet
            self._fail(LINE_TOO_LONG)
            self._skipping = True
            rest = b""
        self._buffer = rest
        return messages

    def _fail(self, error: str) -> None:
        """The message is answered with ``error`` once it ends (its lines are kept, up to
        the limit, for its ActionID)."""
        if self._error is None:
            self._error = error


def encode_fields(fields: Fields) -> bytes:
    """``Key: Value\\r\\n`` lines; a CR or LF inside a value (a client's ActionID, say)
    becomes a space, so that nothing can end a line or a message early."""
    # At once, then checked: one CR and one LF a line means no value holds either.
    text = "".join(["%s: %s\r\n" % field for field in fields])
    if text.count("\n") == len(fields) and text.count("\r") == len(fields):
        return text.encode("utf-8")
    parts = []
    for key, value in fields:
        text = value if isinstance(value, str) else str(value)
        if "\r" in text or "\n" in text:
            text = text.replace("\r", " ").replace("\n", " ")
        parts.append("%s: %s\r\n" % (key, text))
    return "".join(parts).encode("utf-8")


def response(
    action_id: str,
    kind: str = "Success",
    message: Optional[str] = None,
    fields: Fields = (),
    event_list: Optional[str] = None,
) -> bytes:
    """``Response:``, ``ActionID:`` when the request had one, ``EventList:`` for a list,
    then ``Message:`` when there is one, ``fields`` and the blank line (manager.c's
    ``astman_send_response_full``; a response with fields of its own, such as Ping's, has
    no ``Message``)."""
    head: List[Tuple[str, object]] = [("Response", kind)]
    if action_id:
        head.append(("ActionID", action_id))
    if event_list is not None:
        head.append(("EventList", event_list))
    if message is not None:
        head.append(("Message", message))
    return encode_fields(head) + encode_fields(fields) + b"\r\n"


def error(action_id: str, message: str) -> bytes:
    return response(action_id, "Error", message)


def privilege(authority: int) -> str:
    """manager.c's ``authority_to_str``: the classes set, in order, then ``all`` (every class
    is in all); ``<none>`` for none."""
    if not authority:
        return "<none>"
    names = [name for name in CLASSES if authority & CLASS_BITS[name]]
    names.append("all")
    return ",".join(names)


_EVENT_HEADS: "Dict[Tuple[str, int], bytes]" = {}


def event_head(name: str, authority: int) -> bytes:
    """``Event:`` and ``Privilege:`` of an event, made once for each name and class."""
    head = _EVENT_HEADS.get((name, authority))
    if head is None:
        head = _EVENT_HEADS[name, authority] = encode_fields((("Event", name), ("Privilege", privilege(authority))))
    return head


def event(name: str, authority: int, fields: Fields) -> bytes:
    """An event as every listener gets it: ``Event:``, ``Privilege:``, the fields."""
    return event_head(name, authority) + encode_fields(fields) + b"\r\n"


def list_item(name: str, fields: Fields, action_id: str) -> bytes:
    """An item of a list (``QueueParams``, ``QueueMember``...): no Privilege, and the
    ``ActionID`` last, as app_queue.c writes them."""
    tail: Fields = (("ActionID", action_id),) if action_id else ()
    return encode_fields((("Event", name),)) + encode_fields(fields) + encode_fields(tail) + b"\r\n"


def list_complete(name: str, action_id: str, count: int) -> bytes:
    """The event that ends a list: ``EventList: Complete`` and ``ListItems``."""
    fields: List[Tuple[str, object]] = [("Event", name)]
    if action_id:
        fields.append(("ActionID", action_id))
    fields.extend((("EventList", "Complete"), ("ListItems", count)))
    return encode_fields(fields) + b"\r\n"


def parse_classes(text: str) -> int:
    """manager.c's ``get_perm``: the bits of the comma-separated class names in ``text``
    (``all`` is every class; unknown names count for nothing)."""
    authority = 0
    for name in text.split(","):
        name = name.strip().lower()
        if name == "all":
            authority |= ALL
        else:
            authority |= CLASS_BITS.get(name, 0)
    return authority


TRUE_WORDS = ("yes", "true", "y", "t", "1", "on")
FALSE_WORDS = ("no", "false", "n", "f", "0", "off")


def is_true(text: str) -> bool:
    """Asterisk's ``ast_true``."""
    return text.strip().lower() in TRUE_WORDS


def event_mask(text: str) -> int:
    """manager.c's ``strings_to_mask`` (an ``Events`` header): -1 for an empty one, a number
    as itself, a false word 0, a true word every class, else the classes named."""
    text = text.strip()
    if not text:
        return -1
    if text.isdigit():
        return min(int(text), ALL)
    if text.lower() in FALSE_WORDS:
        return 0
    if text.lower() in TRUE_WORDS:
        return ALL
    return parse_classes(text)
