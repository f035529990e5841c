"""Transcripts in the assignment's style: ``> command`` lines in, the exact lines out.

``> +N`` lets N seconds pass on the call center's task.Clock; the lines of the events
that fire meanwhile follow it. A command refused as bad input shows ``error: <why>``.
"""

from twisted.internet.task import Clock

from callcenter.core.center import CallCenter, CallCenterError


class Session(object):
    def __init__(self, operators=("A", "B"), ring_timeout=0, **options):
        self.clock = Clock()
        self.events = []
        self.center = CallCenter(
            list(operators), self.clock.callLater, ring_timeout, self.events.append, now=self.clock.seconds, **options
        )

    def run(self, command):
        """The lines one ``> `` line shows."""
        if command.startswith("+"):
            self.clock.advance(float(command[1:]))
            lines = [line for event in self.events for line in event]
            del self.events[:]
            return lines
        name, _, argument = command.partition(" ")
        try:
            return self.center.execute(name, argument or None)
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
