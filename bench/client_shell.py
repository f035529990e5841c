"""Section 4, client and shell: 100,000 commands piped through the one-process
``callcenter`` and through ``callcenter-client`` into a ``callcenter-server``; commands
per second for each, the two outputs compared byte for byte, and the start-up time to
the first reply (process start to the first byte on stdout) for each."""

import hashlib
import os
import subprocess
import tempfile
import time

from bench.common import GENERATOR_CPU, SERVER_CPU, free_port, log, running, spawn, stop, summary, tool

OPERATORS = "10"


def commands(count):
    """A session of ``count`` commands in the load generator's six-command cycle."""
    names = "ABCDEFGHIJ"
    lines = []
    n = 0
    while len(lines) < count:
        own, other = names[n % 10], names[(n + 1) % 10]
        lines += [
            "call %d-a" % n,
            "call %d-b" % n,
            "answer %s" % own,
            "hangup %d-a" % n,
            "reject %s" % other,
            "hangup %d-b" % n,
        ]
        n += 1
    return ("\n".join(lines[:count]) + "\n").encode("ascii")


def pipe_through(argv, data, cpu, limit):
    """Feed ``data`` to ``argv`` through a pipe; (seconds, stdout digest, stdout lines, stderr lines)."""
    with tempfile.TemporaryFile() as errors:
        started = time.monotonic()
        process = spawn(argv, cpu=cpu, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errors)
        try:
            out, _ = process.communicate(data, timeout=limit)
        except subprocess.TimeoutExpired:
            raise RuntimeError("%s ran past %.0f s" % (argv[0], limit)) from None
        finally:
            stop(process)
        seconds = time.monotonic() - started
        if process.returncode != 0:
            raise RuntimeError("%s exited %s" % (argv[0], process.returncode))
        errors.seek(0)
        err = errors.read()
    digest = hashlib.sha256(out + b"\0" + err).hexdigest()
    return seconds, digest, out.count(b"\n"), err.count(b"\n")


def first_reply(argv, cpu, limit=10.0):
    """Seconds from starting ``argv`` to the first byte of its reply to ``call 1``."""
    started = time.monotonic()
    process = spawn(argv, cpu=cpu, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        process.stdin.write(b"call 1\n")
        process.stdin.flush()
        fd = process.stdout.fileno()
        import select

        ready, _, _ = select.select([fd], [], [], limit)
        if not ready:
            raise RuntimeError("%s printed nothing in %.0f s" % (argv[0], limit))
        os.read(fd, 4096)
        seconds = time.monotonic() - started
        process.stdin.close()
        process.wait(limit)
        return seconds
    finally:
        stop(process)


def run(quick=False):
    count = 20000 if quick else 100000
    repeats = 3
    data = commands(count)
    shell = [tool("callcenter"), "--operators", OPERATORS, "--ring-timeout", "0"]
    client = [tool("callcenter-client"), "--connect", None]
    server = [tool("callcenter-server"), "--operators", OPERATORS, "--ring-timeout", "0", "--listen", None]
    results = {"commands": count, "repeats": repeats, "shell": [], "client": [], "identical": True}
    digests = set()
    startup = {"shell": [], "client": []}
    for repeat in range(repeats):
        seconds, digest, out_lines, err_lines = pipe_through(shell, data, SERVER_CPU, limit=300)
        results["shell"].append(count / seconds)
        digests.add(digest)
        port = free_port()
        server[-1] = "tcp:%d:interface=127.0.0.1" % port
        client[-1] = "tcp:127.0.0.1:%d" % port
        with running(server, port=port, cpu=SERVER_CPU):
            seconds, digest, _out_lines2, _err_lines2 = pipe_through(client, data, GENERATOR_CPU, limit=300)
            results["client"].append(count / seconds)
            digests.add(digest)
            startup["client"].append(first_reply(client, GENERATOR_CPU))
        startup["shell"].append(first_reply(shell, SERVER_CPU))
        log(
            "client/shell: run %d: shell %.0f/s, client %.0f/s (%d result lines, %d error lines)"
            % (repeat + 1, results["shell"][-1], results["client"][-1], out_lines, err_lines)
        )
    results["identical"] = len(digests) == 1
    results["output_lines"] = out_lines
    results["error_lines"] = err_lines
    results["shell"] = summary(results["shell"])
    results["client"] = summary(results["client"])
    results["startup_shell"] = summary(startup["shell"])
    results["startup_client"] = summary(startup["client"])
    return results
