"""``callcenter``: the shell on a call center of its own, or a planning command.

Layer: wiring. It reads the options, builds the center and hands it to the shell
(``cli/shell.py``), or runs ``callcenter simulate`` or ``callcenter erlang`` (``sim/planning.py``).
"""

import sys
from typing import Any, List, Optional

from callcenter.cli.arguments import parse_or_exit, routing_options
from callcenter.cli.shell import CallCenterShell, PrintedEvents, run_locally
from callcenter.core.center import CallCenter
from callcenter.wiring.options import ShellOptions


def main(argv: Optional[List[str]] = None) -> None:
    """The shell on stdin and stdout; ``callcenter simulate`` and ``callcenter erlang`` plan a
    day instead (:mod:`callcenter.sim.planning`)."""
    from twisted.internet import task

    from callcenter.cli import console

    options = parse_or_exit(ShellOptions(), sys.argv[1:] if argv is None else argv)
    if options.subCommand is not None:
        from callcenter.sim import planning

        return planning.run(options.subCommand, options.subOptions)

    def run(reactor: Any) -> Any:
        session = console.open_session(reactor)
        output = session.output
        center = CallCenter(
            options["operators"],
            reactor.callLater,
            options["ring-timeout"],
            now=reactor.seconds,
            service_level=options["service-level"],
            **routing_options(options),
        )
        center.subscribe(PrintedEvents(output), commands=False)
        shell = CallCenterShell(run_locally(center, output), output, options["operators"], center.queue_names())
        return session.attach(shell).addCallback(lambda _: session.close())

    task.react(run)
