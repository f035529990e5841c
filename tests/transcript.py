"""Transcripts in the assignment's style: ``> command`` lines in, the exact lines out.

``> +N`` lets N seconds pass on the call center's task.Clock; the lines of the events
that fire meanwhile follow it. A command refused as bad input shows ``error: <why>``.
"""

from twisted.internet.task import Clock

from callcenter.core.center import QUERIES, CallCenter, CallCenterError
from callcenter.core.rendering import render


class Heard(object):
    """A subscriber that keeps every batch of events it hears: (events, command)."""

    def __init__(self):
        self.batches = []

    def heard(self, events, command):
        self.batches.append((list(events), command))

    def timer_lines(self):
        """The lines of the batches no command caused, each batch a list, and forgets them all."""
        lines = [render(events) for events, command in self.batches if command is None]
        del self.batches[:]
        return lines


def lines_of(center, command, argument):
    """What the shell prints for one command: a query's lines, or the lines of its events."""
    if command in QUERIES:
        return center.query(command, argument)
    return render(center.execute(command, argument))


class Session(object):
    def __init__(self, operators=("A", "B"), ring_timeout=0, **options):
        self.clock = Clock()
        self.center = CallCenter(list(operators), self.clock.callLater, ring_timeout, now=self.clock.seconds, **options)
        self.heard = Heard()
        self.center.subscribe(self.heard)

    def run(self, command):
        """The lines one ``> `` line shows."""
        if command.startswith("+"):
            del self.heard.batches[:]
            self.clock.advance(float(command[1:]))
            return [line for batch in self.heard.timer_lines() for line in batch]
        name, _, argument = command.partition(" ")
        try:
            return lines_of(self.center, name, argument or None)
        except CallCenterError as error:
            return ["error: %s" % error]


def replay(text, **options):
    """Run the commands of ``text`` and return it as it should read: each command with
    the lines it printed under it."""
    session = Session(**options)
    out = []
    for line in text.strip().splitlines():
        if line.startswith("> "):
            out.append(line)
            out.extend(session.run(line[2:]))
    return "\n".join(out), session


def check(text, **options):
    """Assert that ``text`` is exactly what its commands print."""
    got, session = replay(text, **options)
    assert got == text.strip(), "\n" + got
    return session
