"""The words after a command's id, as the shell has them and as the wire's JSON fields.

The core takes a command's argument as its words (``call 7 priority=3``, ``pause A
lunch break``); on the wire they are fields beside the id (``"priority": 3``, ``"reason":
"lunch break"``). Pure: the protocol and the client both use it.
"""

from typing import Any, Dict, Optional

from callcenter.core import CallCenterError, parse_priority

# The fields a request may hold beyond "command" and "id", by command.
CALL_FIELDS = ("priority",)
PAUSE_FIELD = "reason"


def request_fields(command: str, argument: Optional[str]) -> Dict[str, Any]:
    """``{"command": ..., "id": ...}`` and the words after the id as their fields. Words the
    core would refuse are left in the id, where the server refuses them the same way."""
    request: Dict[str, Any] = {"command": command}
    if argument is None:
        return request
    first, _, rest = argument.partition(" ")
    if rest and command == "pause":
        request["id"], request[PAUSE_FIELD] = first, rest
    elif rest and command == "call" and all(word.partition("=")[0] in CALL_FIELDS for word in rest.split()):
        request["id"] = first
        for word in rest.split():
            key, _, value = word.partition("=")
            request[key] = int(value) if value.isdigit() else value
    else:
        request["id"] = argument
    return request


def argument_of_request(command: str, argument: Optional[str], request: Dict[str, Any]) -> Optional[str]:
    """The core's argument for a decoded request: the id, then its fields as words.
    CallCenterError for a field of the wrong type."""
    words = [] if argument is None else [argument]
    if command == "call" and "priority" in request:
        words.append("priority=%d" % parse_priority(request["priority"]))
    if command == "pause" and request.get(PAUSE_FIELD) is not None:
        reason = request[PAUSE_FIELD]
        if not isinstance(reason, str):
            raise CallCenterError('"reason" must be a string')
        words.append(reason)
    if len(words) > 1 and argument is None:
        raise CallCenterError("%s needs an id" % command)
    return " ".join(words) if words else None
