"""Several queues (``--queues FILE``): the file's format, parsed into :class:`QueueConfig`.

Layer: core (pure: it parses text, the wiring reads the file). One INI section a queue, in the
order of the file, as Asterisk's ``queues.conf``; the first is the default queue. The routing
between queues is the core's (docs/queues.md).
"""

import configparser
import re
from typing import Any, Dict, List, Optional, Sequence, Tuple

from callcenter.core.model import CallCenterError, small_whole_number
from callcenter.core.strategies import LINEAR, STRATEGIES

# The queue of a call that names none, when there is no --queues file.
DEFAULT_QUEUE = "default"
KEYS = ("operators", "strategy", "max-queue", "max-wait", "weight")
MAX_LEVEL = 99
# Queue names and operator ids: one token of printable characters, no "=" (call 7 queue=NAME).
_NAME = re.compile(r"^[^\s=:,\[\]]{1,64}$")
# configparser's name for the section whose values every section inherits; none here.
_NO_DEFAULT_SECTION = "\0no default section"


def parse_level(text: Any) -> int:
    """An operator's level in a queue: a whole number from 0 to ``MAX_LEVEL`` (in words, its
    digits). CallCenterError when it is not one."""
    level = small_whole_number(text, MAX_LEVEL)
    if level is None:
        raise CallCenterError("a level is a whole number from 0 to %d, not %s" % (MAX_LEVEL, str(text)[:20]))
    return level


class QueuesError(Exception):
    """A --queues file that cannot be used: one line naming the line and what is wrong."""


class QueueConfig(object):
    """One queue's settings: its operators with their level (0 first), the ring strategy among
    them, its limits (0: none) and its weight against the other queues (higher goes first)."""

    __slots__ = ("max_queue", "max_wait", "members", "name", "strategy", "weight")

    def __init__(
        self,
        name: str,
        members: "Sequence[Tuple[str, int]]",
        strategy: str = LINEAR,
        max_queue: int = 0,
        max_wait: float = 0.0,
        weight: int = 0,
    ) -> None:
        self.name = name
        self.members = list(members)
        self.strategy = strategy
        self.max_queue = max_queue
        self.max_wait = max_wait
        self.weight = weight

    def to_dict(self) -> Dict[str, Any]:
        return {
            "name": self.name,
            "members": [[operator_id, level] for operator_id, level in self.members],
            "strategy": self.strategy,
            "max_queue": self.max_queue,
            "max_wait": self.max_wait,
            "weight": self.weight,
        }

    @classmethod
    def from_dict(cls, saved: Dict[str, Any]) -> "QueueConfig":
        """The config of ``to_dict``; KeyError, TypeError or ValueError when it is not one."""
        members = [(str(operator_id), int(level)) for operator_id, level in saved["members"]]
        return cls(
            str(saved["name"]),
            members,
            str(saved["strategy"]),
            int(saved["max_queue"]),
            float(saved["max_wait"]),
            int(saved["weight"]),
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, QueueConfig) and self.to_dict() == other.to_dict()

    def __ne__(self, other: object) -> bool:
        return not self == other

    def __repr__(self) -> str:
        return "QueueConfig(%r)" % (self.to_dict(),)


def operator_ids_of(queues: "Sequence[QueueConfig]") -> List[str]:
    """The operators the queues name, in the order they first appear."""
    seen: Dict[str, None] = {}
    for queue in queues:
        for operator_id, _ in queue.members:
            seen.setdefault(operator_id, None)
    return list(seen)


def _line_of(lines: List[str], section: str, key: Optional[str]) -> int:
    """The line (from 1) of ``section``'s header, or of ``key`` within it."""
    header = None
    for number, line in enumerate(lines, 1):
        stripped = line.strip()
        if stripped.startswith("[") and stripped.endswith("]"):
            if header is not None:
                break
            if stripped[1:-1].strip() == section:
                header = number
                if key is None:
                    return number
        elif header is not None and key is not None:
            name = re.split(r"[=:]", stripped, maxsplit=1)[0].strip().lower()
            if name == key:
                return number
    return header or 1


def parse_queues(text: str) -> List[QueueConfig]:
    """The queues of a --queues file's text; QueuesError (``line N: why``) when it is wrong."""
    parser = configparser.ConfigParser(
        interpolation=None, default_section=_NO_DEFAULT_SECTION, comment_prefixes=("#", ";"), strict=True
    )
    try:
        parser.read_string(text)
    except configparser.Error as error:
        number = getattr(error, "lineno", None)
        message = getattr(error, "message", str(error)).splitlines()[0]
        if isinstance(error, configparser.MissingSectionHeaderError):
            message = "a value before the first [queue] header"
        elif isinstance(error, configparser.ParsingError) and error.errors:
            number = error.errors[0][0]
            # The line as written (the error's own copy is a repr on Python 3.6).
            message = "not a 'key = value' line: %s" % (text.splitlines()[number - 1].strip()[:80],)
        elif isinstance(error, (configparser.DuplicateSectionError, configparser.DuplicateOptionError)):
            message = message.split(": ", 1)[-1] if ": " in message else message
        raise QueuesError("line %s: %s" % (number or 1, message)) from None
    lines = text.splitlines()
    queues = []
    for name in parser.sections():
        section = parser[name]

        def fail(key: Optional[str], why: str, name: str = name) -> QueuesError:
            return QueuesError("line %d: queue %s: %s" % (_line_of(lines, name, key), name, why))

        if not _NAME.match(name):
            raise fail(None, "a queue name is 1 to 64 printable characters, no spaces, '=', ':' or ','")
        for key in section:
            if key not in KEYS:
                raise fail(key, "unknown setting %r: use %s" % (key[:80], ", ".join(KEYS)))
        if "operators" not in section:
            raise fail(None, "no operators = line")
        members: List[Tuple[str, int]] = []
        for part in section["operators"].split(","):
            operator_id, colon, level = (word.strip() for word in part.partition(":"))
            if not _NAME.match(operator_id):
                raise fail("operators", "%r is not an operator id (A, or A:1 for level 1)" % (part.strip()[:80],))
            if colon and not (level.isdigit() and int(level) <= MAX_LEVEL):
                raise fail(
                    "operators", "the level of %s must be a whole number from 0 to %d" % (operator_id, MAX_LEVEL)
                )
            if operator_id in (member for member, _ in members):
                raise fail("operators", "operator %s is named twice" % operator_id)
            members.append((operator_id, int(level) if colon else 0))
        strategy = section.get("strategy", LINEAR).strip()
        if strategy not in STRATEGIES:
            raise fail("strategy", "strategy must be one of %s, not %r" % (", ".join(STRATEGIES), strategy[:80]))
        numbers = []
        for key, kind in (("max-queue", int), ("max-wait", float), ("weight", int)):
            value = section.get(key, "0").strip()
            try:
                number = kind(value)
            except ValueError:
                number = -1
            if not 0 <= number < float("inf"):
                raise fail(
                    key,
                    "%s must be 0 or a positive %s, not %r"
                    % (key, "whole number" if kind is int else "number", value[:80]),
                )
            numbers.append(number)
        queues.append(QueueConfig(name, members, strategy, int(numbers[0]), float(numbers[1]), int(numbers[2])))
    if not queues:
        raise QueuesError("line 1: no [queue] section")
    return queues
