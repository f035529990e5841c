"""The read-outs of a call center: the lines of ``status`` and ``stats``, and its state as plain
data for the wallboard.

Layer: core (pure). Each reads a :class:`~callcenter.core.center.CallCenter` and changes nothing:
``status`` and ``stats`` give the lines the commands print (docs/stats.md has the table), and
``snapshot`` the dict :class:`~callcenter.interfaces.ICallCenterObserver` promises.
"""

from typing import TYPE_CHECKING, Any, Dict, Iterator, List, Optional, Sequence

from callcenter.core.model import AVAILABLE, RINGING, WRAP_UP, Call, Operator
from callcenter.core.stats import presence_lines, queue_line, stats_table

if TYPE_CHECKING:
    from callcenter.core.center import CallCenter

Lines = List[str]


def presence_line(operator_id: str, presence: str, reason: Optional[str]) -> str:
    """``Operator A paused``, ``Operator A paused: lunch`` or ``Operator A logged out``."""
    if reason:
        return "Operator %s %s: %s" % (operator_id, presence, reason)
    return "Operator %s %s" % (operator_id, presence)


def status(center: "CallCenter") -> Lines:
    """Every operator with its state and call, then the queued calls in the order they
    will be offered (with their priority, when not 0); with several queues, that queue
    by queue under a ``Queue NAME`` line, an operator under each queue it serves."""
    if len(center.queues) == 1:
        return status_lines(center.operators, center.queue.calls())
    lines = []
    for queue in center.queues:
        lines.append("Queue %s" % queue.name)
        members = [operator for operator in center.operators if any(served is queue for served, _ in operator.serves)]
        lines.extend(status_lines(members, queue.waiting.calls()))
    return lines


def status_lines(operators: Sequence[Operator], waiting: Iterator[Call]) -> Lines:
    """The lines of ``operators``, then those of the ``waiting`` calls."""
    lines = []
    for operator in operators:
        state = operator.state
        if operator.call is not None:
            lines.append("Operator %s %s with call %s" % (operator.id, state, operator.call.id))
        elif state is AVAILABLE:
            lines.append("Operator %s available" % operator.id)
        elif state is WRAP_UP:
            lines.append("Operator %s in wrap-up" % operator.id)
        else:
            lines.append(presence_line(operator.id, state, operator.reason))
    for call in waiting:
        if call.priority:
            lines.append("Queued call %s (priority %d)" % (call.id, call.priority))
        else:
            lines.append("Queued call %s" % call.id)
    return lines


def stats(center: "CallCenter") -> Lines:
    """The figures since the start: calls by outcome, waits, service level, and per operator
    its answers, rejects, ignores, talk time and how long it has been in its state (the
    table is documented in docs/stats.md); then, once presence was used, per operator its
    time paused (by reason), in wrap-up and logged in; with several queues, a line a queue."""
    oldest = center.queue.oldest()
    now = center.now()
    ringing = sum(1 for call in center.calls.values() if call.state is RINGING)
    lines = stats_table(
        center.figures,
        center.operators,
        now,
        center.service_level,
        waiting=len(center.queue),
        oldest_waiting=None if oldest is None else oldest.received_at,
        ringing=ringing,
        limits=any(queue.max_queue or queue.max_wait for queue in center.queues),
    )
    lines.extend(presence_lines(center.operators, now))
    if len(center.queues) > 1:
        rings = {queue.name: 0 for queue in center.queues}
        for call in center.calls.values():
            if call.state is RINGING:
                rings[call.queue.name] += 1
        for queue in center.queues:
            head = queue.waiting.oldest()
            lines.append(
                queue_line(
                    queue.name,
                    queue.figures,
                    now,
                    center.service_level,
                    len(queue.waiting),
                    None if head is None else head.received_at,
                    rings[queue.name],
                )
            )
    return lines


def snapshot(center: "CallCenter", waiting_limit: int = 100) -> Dict[str, Any]:
    """Operators in configured order and the first ``waiting_limit`` waiting calls, head
    first, with the figures of ``stats``: plain dicts, lists and numbers, a copy.

    An operator is ``{"id", "state", "call" (its call's id or None), "reason" (a pause's
    reason, else None), "since" (when it entered its state)}``; a
    waiting call ``{"call", "received_at"}``; times are readings of ``now``. It costs
    O(operators + waiting_limit), whatever the length of the queue.

    With several queues (``--queues``), ``"queues"`` holds each queue, in order:
    ``{"name", "waiting" (its first ``waiting_limit`` calls), "waiting_count",
    "oldest_received_at" (of its call waiting longest, or None), "figures", "ringing"
    (its operators ringing)}``: O(operators + queues x waiting_limit) more; else ``[]``.
    """
    return {
        "now": center.now(),
        "operators": [
            {
                "id": operator.id,
                "state": operator.state,
                "call": None if operator.call is None else operator.call.id,
                "reason": operator.reason,
                "since": operator.since,
            }
            for operator in center.operators
        ],
        "waiting": [{"call": call.id, "received_at": call.received_at} for call in center.queue.first(waiting_limit)],
        "waiting_count": len(center.queue),
        "figures": center.figures.to_dict(),
        "service_level": center.service_level,
        "queues": queues_snapshot(center, waiting_limit) if len(center.queues) > 1 else [],
    }


def queues_snapshot(center: "CallCenter", waiting_limit: int) -> List[Dict[str, Any]]:
    """Each queue's part of :func:`snapshot`, in order."""
    ringing = {queue.name: 0 for queue in center.queues}
    for operator in center.operators:  # the operators, not the calls: ring-all rings one call at several
        if operator.state is RINGING and operator.call is not None:
            ringing[operator.call.queue.name] += 1
    queues = []
    for queue in center.queues:
        oldest = queue.waiting.oldest()
        first = queue.waiting.first(waiting_limit)
        queues.append(
            {
                "name": queue.name,
                "waiting": [{"call": call.id, "received_at": call.received_at} for call in first],
                "waiting_count": len(queue.waiting),
                "oldest_received_at": None if oldest is None else oldest.received_at,
                "figures": queue.figures.to_dict(),
                "ringing": ringing[queue.name],
            }
        )
    return queues
