"""bench.loadgen's request mix through the core and the rendering, in process: CPU time a
request, no sockets, so that a core change is measured without the server's framing.

    python -m bench.request_mix CONNECTIONS [PASSES]

Each of CONNECTIONS connections sends loadgen's cycle (call, call, answer, hangup, reject,
hangup) with its own call ids, 16 requests a turn, round robin: 60,000 requests a pass,
each pass on a fresh call center of 50 operators (ring timeout 10 s, task.Clock). Prints
the fastest and the median pass. Runs against the core before events (``c8212d1``, whose
commands return lines) as well, for A/B. Under ``valgrind --tool=callgrind``, the
difference of a run of 2 passes and one of 1 is the instructions of one pass.
"""

import sys
import time

from twisted.internet.task import Clock

try:
    from callcenter.core.center import CallCenter, CallCenterError, operator_names
    from callcenter.core.rendering import render

    EVENTS = True
except ImportError:  # the core before events
    from callcenter.core import CallCenter, CallCenterError, operator_names  # type: ignore

    EVENTS = False

OPERATORS = 50
WINDOW = 16
REQUESTS = 60000


def requests(connections, operators):
    """Every connection's cycles, served WINDOW requests a connection a turn."""
    streams = []
    for number in range(connections):
        own, other = operators[number % OPERATORS], operators[(number + 1) % OPERATORS]
        stream = []
        for cycle in range(max(1, REQUESTS // connections // 6)):
            first, second = "p-%d-%da" % (number, cycle), "p-%d-%db" % (number, cycle)
            stream += [
                ("call", first),
                ("call", second),
                ("answer", own),
                ("hangup", first),
                ("reject", other),
                ("hangup", second),
            ]
        streams.append(stream)
    order = []
    for start in range(0, max(len(stream) for stream in streams), WINDOW):
        for stream in streams:
            order += stream[start : start + WINDOW]
    return order


def one_pass(order, operators):
    """CPU seconds of one pass, and the requests refused (answers that found no ring)."""
    clock = Clock()
    if EVENTS:
        center = CallCenter(operators, clock.callLater, 10, now=clock.seconds)
    else:
        center = CallCenter(operators, clock.callLater, 10, lambda lines: None, now=clock.seconds)
    execute = center.execute
    refused = 0
    started = time.process_time()
    if EVENTS:
        for command, argument in order:
            try:
                "\n".join(render(execute(command, argument)))
            except CallCenterError:
                refused += 1
    else:
        for command, argument in order:
            try:
                "\n".join(execute(command, argument))
            except CallCenterError:
                refused += 1
    return time.process_time() - started, refused


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    connections = int(argv[0])
    passes = int(argv[1]) if len(argv) > 1 else 5
    operators = operator_names(OPERATORS)
    order = requests(connections, operators)
    results = [one_pass(order, operators) for _ in range(passes)]
    times = sorted(seconds / len(order) * 1e6 for seconds, _ in results)
    print(
        "%s, %d connections: %d requests a pass (%d refused), CPU a request: fastest %.2f us, median %.2f us"
        % (
            "events" if EVENTS else "before events",
            connections,
            len(order),
            results[0][1],
            times[0],
            times[len(times) // 2],
        )
    )


if __name__ == "__main__":
    main()
