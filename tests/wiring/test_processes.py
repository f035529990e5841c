"""The real commands as a user runs them: exact bytes on stdout, errors on stderr, exit codes."""

import json
import os
import select
import signal
import socket
import subprocess
import tempfile
import time

import pytest

from support import (
    EXPECTED,
    GOLDEN,
    GOLDEN_INPUT,
    TIMEOUT,
    PortTakenError,
    ServerProcess,
    command,
    free_port,
    read_golden,
    run,
    scrape,
)

# A bound against a hang, not a measure: the 10^5-line runs take seconds alone, but several
# times that on a loaded machine.


class LineReader(object):
    """Reads a child's pipe line by line, waiting at most ``timeout`` seconds for each."""

    def __init__(self, pipe):
        self.fd = pipe.fileno()
        self.buffer = b""

    def read_lines(self, count, timeout=10):
        deadline = time.monotonic() + timeout
        while self.buffer.count(b"\n") < count:
            remaining = deadline - time.monotonic()
            ready, _, _ = select.select([self.fd], [], [], max(0, remaining))
            if not ready:
                raise AssertionError("timed out waiting for %d lines, have %r" % (count, self.buffer))
            chunk = os.read(self.fd, 65536)
            if not chunk:
                raise AssertionError("pipe closed, have %r" % (self.buffer,))
            self.buffer += chunk
        lines = self.buffer.split(b"\n")
        taken, self.buffer = lines[:count], b"\n".join(lines[count:])
        return [line.decode("utf-8") for line in taken]


def test_golden_transcript_through_the_one_process_shell():
    result = run([command("callcenter")], GOLDEN_INPUT)
    assert result.stdout.decode("utf-8") == EXPECTED
    assert result.stderr == b""
    assert result.returncode == 0


def test_shell_bad_input_goes_to_stderr_and_the_session_goes_on():
    result = run(
        [command("callcenter"), "--operators", "3"],
        b"call 1\nbogus\ncall 1\n\nanswer Z\ncall \xff\nanswer A\nhangup\ncall 2\nstatus",
    )
    assert result.stdout.decode() == (
        "Call 1 received\nCall 1 ringing for operator A\n"
        "Call 1 answered by operator A\n"
        "Call 2 received\nCall 2 ringing for operator B\n"
        "Operator A busy with call 1\nOperator B ringing with call 2\nOperator C available\n"
    )
    assert result.stderr.decode() == (
        "error: unknown command 'bogus'; type help for the list\n"
        "error: call 1 is already in progress\n"
        "error: no operator Z\n"
        "error: the line is not valid UTF-8; it was ignored\n"
        "error: usage: hangup <call id>\n"
    )
    assert result.returncode == 0


def test_shell_quit_stops_reading():
    result = run([command("callcenter")], b"call 1\nquit\ncall 2\n")
    assert result.stdout == b"Call 1 received\nCall 1 ringing for operator A\n"
    assert result.returncode == 0


def test_shell_prints_ring_timeouts_while_waiting_for_input():
    shell = subprocess.Popen(
        [command("callcenter"), "--ring-timeout", "0.2"], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        reader = LineReader(shell.stdout)
        shell.stdin.write(b"call 1\n")
        shell.stdin.flush()
        assert reader.read_lines(2) == ["Call 1 received", "Call 1 ringing for operator A"]
        assert reader.read_lines(2) == ["Call 1 ignored by operator A", "Call 1 ringing for operator B"]
        shell.stdin.write(b"answer B\n")
        shell.stdin.close()
        assert reader.read_lines(1) == ["Call 1 answered by operator B"]
        assert shell.wait(TIMEOUT) == 0
    finally:
        shell.kill()
        shell.wait()


@pytest.mark.parametrize(
    "argv",
    [["--operators", "A,A"], ["--operators", "0"], ["--ring-timeout", "soon"], ["--ring-timeout", "-1"], ["--nope"]],
)
def test_bad_options_exit_2_with_usage(argv):
    result = run([command("callcenter"), *argv])
    assert result.returncode == 2
    assert b"Usage: callcenter" in result.stderr and b"error:" in result.stderr


def test_golden_transcript_through_server_and_client_all_at_once(start_server):
    server = start_server()
    result = run([command("callcenter-client"), "--connect", "tcp:127.0.0.1:%d" % server.port], GOLDEN_INPUT)
    assert result.stdout.decode("utf-8") == EXPECTED
    assert result.stderr == b""
    assert result.returncode == 0


def test_golden_transcript_through_server_and_client_line_by_line(start_server):
    server = start_server()
    client = subprocess.Popen(
        [command("callcenter-client"), "--connect", "tcp:127.0.0.1:%d" % server.port],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        reader = LineReader(client.stdout)
        expected_lines = EXPECTED.splitlines()
        out = []
        # Each command's reply has the lines the transcript shows under it.
        blocks = open_blocks()
        for typed, lines in blocks:
            client.stdin.write(typed.encode("utf-8") + b"\n")
            client.stdin.flush()
            out.extend(reader.read_lines(len(lines)))
        assert out == expected_lines
        client.stdin.close()
        assert client.wait(TIMEOUT) == 0
    finally:
        client.kill()
        client.wait()


def open_blocks():
    """The transcript as (command, the lines shown under it)."""

    blocks = []
    with open(GOLDEN, encoding="utf-8") as transcript:
        for line in transcript.read().splitlines():
            if line.startswith("> "):
                blocks.append((line[2:], []))
            elif not line.startswith("# "):
                blocks[-1][1].append(line)
    return blocks


def test_twistd_plugin_serves_the_transcript(start_server):
    server = start_server(twistd=True)
    result = run([command("callcenter-client"), "--connect", "tcp:127.0.0.1:%d" % server.port], GOLDEN_INPUT)
    assert result.stdout.decode("utf-8") == EXPECTED
    assert result.returncode == 0
    server.stop()
    assert b"callcenter" in server.log


def test_server_logs_and_stops_cleanly_on_sigterm(start_server):
    server = start_server("--operators", "A,B,C", "--ring-timeout", "0")
    run([command("callcenter-client"), "--connect", "tcp:127.0.0.1:%d" % server.port], b"status\n")
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(TIMEOUT) == 0  # one SIGTERM is enough, and a clean exit
    server.stop()  # collects the log
    log = server.log.decode()
    assert "Call center listening on" in log and "operators A,B,C, ring timeout off" in log
    assert "Connection from" in log
    assert "Traceback" not in log


def test_server_refuses_a_port_in_use(start_server):
    server = start_server()
    result = run([command("callcenter-server"), "--listen", "tcp:%d:interface=127.0.0.1" % server.port])
    assert result.returncode == 1
    assert b"Cannot listen on" in result.stdout


def test_client_without_a_server_says_so_and_exits_1():

    result = run([command("callcenter-client"), "--connect", "tcp:127.0.0.1:%d" % free_port()], b"call 1\n")
    assert result.returncode == 1
    assert result.stdout == b""
    lines = result.stderr.decode().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot connect to the callcenter server")


def test_client_refuses_malformed_commands_locally_and_prints_server_errors(start_server):
    server = start_server()
    result = run(
        [command("callcenter-client"), "--connect", "tcp:127.0.0.1:%d" % server.port],
        b"dial 1\ncall\ncall 1\nanswer Z\nhangup 1\n",
    )
    assert result.stdout == b"Call 1 received\nCall 1 ringing for operator A\nCall 1 missed\n"
    assert result.stderr.decode() == (
        "error: unknown command 'dial'; type help for the list\n"
        "error: usage: call <call id> [priority=N]\n"
        "error: no operator Z\n"
    )
    assert result.returncode == 0


def test_client_reports_a_lost_server_and_reconnects(start_server):
    server = start_server()
    client = subprocess.Popen(
        [command("callcenter-client"), "--connect", "tcp:127.0.0.1:%d" % server.port],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        out, err = LineReader(client.stdout), LineReader(client.stderr)
        client.stdin.write(b"call 1\n")
        client.stdin.flush()
        assert out.read_lines(2) == ["Call 1 received", "Call 1 ringing for operator A"]
        server.stop()
        assert err.read_lines(1)[0].startswith("error: connection to the server lost")
        client.stdin.write(b"call 2\n")
        client.stdin.flush()
        assert err.read_lines(1) == ["error: not connected to the server (reconnecting); call was not sent"]
        # A new server on the same port: the client finds it by itself.
        restarted = type(server)(server.process.args, server.port)
        try:
            assert err.read_lines(1, timeout=15) == ["error: reconnected to the server"]
            client.stdin.write(b"call 3\n")
            client.stdin.close()
            assert out.read_lines(2) == ["Call 3 received", "Call 3 ringing for operator A"]
            assert client.wait(TIMEOUT) == 0
        finally:
            restarted.stop()
    finally:
        client.kill()
        client.wait()


@pytest.mark.parametrize("program", ["callcenter", "callcenter-client"])
def test_a_program_into_a_closed_pipe_finishes_quietly(program, start_server):
    argv = [command(program), "--operators", "3"]
    if program == "callcenter-client":
        argv = [command(program), "--connect", "tcp:127.0.0.1:%d" % start_server("--operators", "3").port]
    commands = b"".join(b"call %d\n" % n for n in range(1, 20000))
    child = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    child.stdin.write(b"call 0\n")
    child.stdin.flush()
    assert child.stdout.readline() == b"Call 0 received\n"
    child.stdout.close()  # like `| head -1`
    child.stdout = None  # so that communicate() leaves it alone (Python 3.6 would not)
    _, err = child.communicate(commands, timeout=TIMEOUT)
    assert (child.returncode, err) == (0, b"")


# Nothing lost to a slow reader (issue 8). Calls and hangups in turns keep the state small:
# what is measured is the output path.
SLOW_COMMANDS = 100000
SLOW_INPUT = b"".join(b"call %d\nhangup %d\n" % (n, n) for n in range(SLOW_COMMANDS // 2))
SLOW_OUTPUT = b"".join(
    b"Call %d received\nCall %d ringing for operator A\nCall %d missed\n" % (n, n, n) for n in range(SLOW_COMMANDS // 2)
)


def read_after_a_pause(argv, data, pause=2.0, stderr=subprocess.PIPE):
    """Run ``argv`` with ``data`` on stdin and a reader that waits ``pause`` seconds
    before it reads anything (the program's output fills the pipe meanwhile)."""
    with tempfile.TemporaryFile() as stdin:
        stdin.write(data)
        stdin.seek(0)
        child = subprocess.Popen(argv, stdin=stdin, stdout=subprocess.PIPE, stderr=stderr)
        time.sleep(pause)  # the slow reader under test, not a wait for something to happen
        out, err = child.communicate(timeout=TIMEOUT)
    return child.returncode, out, err


def test_shell_into_a_slow_reader_loses_nothing():
    argv = [command("callcenter"), "--operators", "1", "--ring-timeout", "0"]
    returncode, out, err = read_after_a_pause(argv, SLOW_INPUT)
    assert (returncode, err) == (0, b"")
    assert out.count(b"\n") == SLOW_COMMANDS * 3 // 2
    assert out == SLOW_OUTPUT


def test_client_into_a_slow_reader_loses_nothing(start_server):
    server = start_server("--operators", "1", "--ring-timeout", "0")
    argv = [command("callcenter-client"), "--connect", "tcp:127.0.0.1:%d" % server.port]
    returncode, out, err = read_after_a_pause(argv, SLOW_INPUT)
    assert (returncode, err) == (0, b"")
    assert out == SLOW_OUTPUT


# A client that reads late (issue 18): it sends for seconds without reading while another
# fills the queue, then reads everything.
LATE_BLOCK = b'{"command": "status"}\n' * 99  # then a hangup whose error names its place
LATE_SENDING = 10.0  # seconds of sending without reading
LATE_SNDBUF = 16384  # the sender's socket buffer: what the kernel takes stays a few hundred KB


def late_block(number):
    return LATE_BLOCK + b'{"command": "hangup", "id": "seq-%d"}\n' % number


def resident_bytes(pid, field="VmRSS"):
    with open("/proc/%d/status" % pid) as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no %s for %d" % (field, pid))


class LateReplies(object):
    """Checks the late reader's replies as they arrive: 99 status replies, each listing at
    least as many waiting calls as the one before (the queue only grows), then the error
    of the block's hangup, whose id says which block it was."""

    def __init__(self):
        self.buffer = b""
        self.count = 0
        self.waiting = 0

    def feed(self, data):
        lines = (self.buffer + data).split(b"\n")
        self.buffer = lines.pop()
        for line in lines:
            if self.count % 100 == 99:
                assert line == b'{"error": "no call seq-%d in progress"}' % (self.count // 100), line[:200]
            else:
                assert line.startswith(b'{"response": "Operator A '), line[:200]
                waiting = line.count(b"Queued call")
                assert waiting >= self.waiting
                self.waiting = waiting
            self.count += 1


def test_a_client_that_reads_late_gets_every_reply_in_order_and_the_server_stays_small(start_server):
    server = start_server("--operators", "1", "--ring-timeout", "0")
    pid = server.process.pid
    start = resident_bytes(pid)
    peak = [start]
    late = socket.socket()
    late.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, LATE_SNDBUF)
    late.connect(("127.0.0.1", server.port))
    late.setblocking(False)
    caller = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    caller.setblocking(False)
    try:
        blocks = 0
        pending = memoryview(late_block(0))
        calls = 0
        answers = b""
        began = time.monotonic()
        next_call = began
        while time.monotonic() - began < LATE_SENDING:
            now = time.monotonic()
            if now >= next_call:  # a call every 10 ms, all of them queued behind the first
                caller.send(b'{"command": "call", "id": "%d"}\n' % calls)
                calls += 1
                next_call += 0.01
                peak[0] = max(peak[0], resident_bytes(pid)) if calls % 10 == 0 else peak[0]
            readable, writable, _ = select.select([caller], [late], [], max(0.0, min(0.01, next_call - now)))
            if readable:
                answers += caller.recv(1 << 16)
            if writable:
                try:
                    pending = pending[late.send(pending) :]
                except BlockingIOError:
                    pass
                if not pending:
                    blocks += 1
                    pending = memoryview(late_block(blocks))
        # The request cut off at the end is finished; then everything is read.
        cut = bytes(pending).find(b"\n") + 1
        tail = pending[:cut]
        requests = blocks * 100 + bytes(late_block(blocks)[: len(late_block(blocks)) - len(pending) + cut]).count(b"\n")
        replies = LateReplies()
        deadline = time.monotonic() + 120  # a bound against a hang, not a measure
        sampled = time.monotonic()
        while replies.count < requests:
            assert time.monotonic() < deadline, "%d of %d replies" % (replies.count, requests)
            readable, writable, _ = select.select([late], [late] if tail else [], [], 1.0)
            if writable:
                try:
                    tail = tail[late.send(tail) :]
                except BlockingIOError:
                    pass
            if readable:
                data = late.recv(1 << 20)
                assert data, "the server closed the connection after %d of %d replies" % (replies.count, requests)
                replies.feed(data)
            if time.monotonic() - sampled >= 0.1:
                peak[0] = max(peak[0], resident_bytes(pid))
                sampled = time.monotonic()
        peak[0] = max(peak[0], resident_bytes(pid, "VmHWM"))
        # Every request its reply, in order, and nothing more: the server's end comes next.
        late.shutdown(socket.SHUT_WR)
        late.setblocking(True)
        late.settimeout(10)
        assert late.recv(1 << 20) == b"" and replies.buffer == b""
        assert requests > 10000 and replies.waiting >= 900 and calls >= 900
        assert answers.count(b"\n") <= calls
    finally:
        late.close()
        caller.close()
    assert peak[0] - start < 50 * 1000 * 1000, (start, peak[0])
    assert server.stop() == 0
    assert b"it is not reading" not in server.log


def mixed_input(count):
    """Commands whose results and errors alternate: call n, then the same call again."""
    return b"".join(b"call %d\ncall %d\nhangup %d\n" % (n, n, n) for n in range(count))


def mixed_output(count):
    return b"".join(
        b"Call %d received\nCall %d ringing for operator A\n"
        b"error: call %d is already in progress\nCall %d missed\n" % (n, n, n, n)
        for n in range(count)
    )


@pytest.mark.parametrize("program", ["callcenter", "callcenter-client"])
def test_errors_and_results_in_one_pipe_keep_the_order_of_a_file(program, start_server, tmp_path):
    argv = [command(program), "--operators", "1", "--ring-timeout", "0"]
    if program == "callcenter-client":
        server = start_server("--operators", "1", "--ring-timeout", "0")
        argv = [command(program), "--connect", "tcp:127.0.0.1:%d" % server.port]
    data = mixed_input(20000)
    # 2>&1 into one pipe, read after a pause...
    returncode, piped, _ = read_after_a_pause(argv, data, stderr=subprocess.STDOUT)
    assert returncode == 0
    # ... gives the same bytes as > file 2>&1.
    path = tmp_path / "out"
    with open(str(path), "wb") as file:
        subprocess.run(argv, input=data, stdout=file, stderr=subprocess.STDOUT, timeout=TIMEOUT, check=True)
    assert path.read_bytes() == piped == mixed_output(20000)


# Clients that others wrote for the assignment, in each of their dialects (issue 9).


def dialect_client(port, dialect):
    """A client of the test's own, speaking ``dialect``; returns what it prints."""
    commands, _ = read_golden()
    requests = []
    for text in commands:
        command, argument = text.split()
        value = int(argument) if dialect == "integer ids" and argument.isdigit() else argument
        requests.append(json.dumps({"command": command, "id": value}).encode("ascii"))
    printed = []
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as connection:
        if dialect == "crlf lines":  # Twisted's LineReceiver with its default delimiter
            reader = connection.makefile("rb", newline=b"\r\n")
            connection.sendall(b"".join(request + b"\r\n" for request in requests))
            for _ in requests:
                line = reader.readline()
                assert line.endswith(b"\r\n")
                printed.append(json.loads(line)["response"] + "\n")
        elif dialect == "bare, one at a time":  # transport.write(json.dumps(...)), then wait
            for request in requests:
                connection.sendall(request)
                printed.append(json.loads(connection.recv(65536))["response"] + "\n")
        else:  # all at once, back to back, replies split off as they come
            connection.sendall(b"".join(requests))
            decoder, text = json.JSONDecoder(), ""
            while len(printed) < len(requests):
                text = (text + connection.recv(65536).decode("utf-8")).lstrip()
                while text:
                    try:
                        reply, end = decoder.raw_decode(text)
                    except ValueError:
                        break
                    printed.append(reply["response"] + "\n")
                    text = text[end:].lstrip()
    return "".join(printed)


@pytest.mark.parametrize("dialect", ["crlf lines", "bare, one at a time", "bare, all at once", "integer ids"])
def test_other_peoples_clients_print_the_transcript(start_server, dialect):
    server = start_server()
    assert dialect_client(server.port, dialect) == EXPECTED


@pytest.mark.parametrize("twistd", [False, True], ids=["callcenter-server", "twistd"])
def test_server_serves_prometheus_metrics_that_its_parser_reads(start_server, twistd):
    from prometheus_client.parser import text_string_to_metric_families

    metrics_port = free_port()
    server = start_server("--metrics", "tcp:%d:interface=127.0.0.1" % metrics_port, twistd=twistd)
    result = run(
        [command("callcenter-client"), "--connect", "tcp:127.0.0.1:%d" % server.port],
        b"call 1\ncall 2\ncall 3\nanswer A\nhangup 3\nstats\n",
    )
    assert result.returncode == 0
    assert "Calls received: 3" in result.stdout.decode("utf-8")
    status, text = scrape(metrics_port)
    assert status == 200
    families = {family.name: family for family in text_string_to_metric_families(text)}
    values = {
        sample.name: sample.value for family in families.values() for sample in family.samples if not sample.labels
    }
    assert values["callcenter_calls_received_total"] == 3
    assert values["callcenter_calls_answered_total"] == 1
    assert values["callcenter_calls_missed_total"] == 1
    assert values["callcenter_wait_seconds_count"] == 1
    assert values["callcenter_queue_length"] == 0
    busy = [sample for sample in families["callcenter_operators"].samples if sample.labels == {"state": "busy"}]
    assert [sample.value for sample in busy] == [1]
    assert values["process_resident_memory_bytes"] > 0
    assert scrape(metrics_port, "/")[0] == 404
    server.stop()
    assert b"Traceback" not in server.log
    assert b"/metrics" in server.log or twistd  # callcenter-server says where the metrics are


@pytest.mark.parametrize("twistd", [False, True], ids=["callcenter-server", "twistd"])
def test_metrics_histograms_count_every_answer_with_a_state_directory(start_server, twistd, tmp_path):
    """With --state-dir the call center is journaled: the wait and ring histograms still hear the core."""
    from prometheus_client.parser import text_string_to_metric_families

    metrics_port = free_port()
    server = start_server(
        "--metrics", "tcp:%d:interface=127.0.0.1" % metrics_port, "--state-dir", str(tmp_path / "state"), twistd=twistd
    )
    result = run(
        [command("callcenter-client"), "--connect", "tcp:127.0.0.1:%d" % server.port],
        b"call 1\nanswer A\nhangup 1\n",
    )
    assert result.returncode == 0, result.stderr
    status, text = scrape(metrics_port)
    assert status == 200
    values = {
        sample.name: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if not sample.labels
    }
    assert values["callcenter_calls_answered_total"] == 1
    assert values["callcenter_wait_seconds_count"] == values["callcenter_calls_answered_total"]
    assert values["callcenter_ring_seconds_count"] == values["callcenter_calls_answered_total"]
    server.stop()
    assert b"Traceback" not in server.log


def test_server_refuses_a_metrics_port_in_use(start_server):
    server = start_server()

    result = run(
        [
            command("callcenter-server"),
            "--listen",
            "tcp:%d:interface=127.0.0.1" % free_port(),
            "--metrics",
            "tcp:%d:interface=127.0.0.1" % server.port,
        ]
    )
    assert result.returncode == 1
    assert b"Cannot listen on" in result.stdout


def test_a_server_whose_port_someone_else_holds_is_not_mistaken_for_it():
    with socket.socket() as foreign:
        foreign.bind(("127.0.0.1", 0))
        foreign.listen(1)
        port = foreign.getsockname()[1]
        argv = [command("callcenter-server"), "--listen", "tcp:%d:interface=127.0.0.1" % port]
        with pytest.raises(PortTakenError):
            ServerProcess(argv, port)  # connections succeed, but to the foreign listener
