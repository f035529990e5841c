"""The shell and the stdin consoles: bytes in, lines out, with StringTransport and Clock."""

import pytest
from twisted.conch.insults import insults
from twisted.internet import defer
from twisted.internet.testing import StringTransport

from callcenter.cli.console import LineConsole, TerminalConsole, TerminalOutput
from callcenter.cli.output import StreamOutput
from callcenter.core.queues import parse_queues
from support import make_shell


@pytest.mark.parametrize(
    "line, error",
    [
        ("dial 1", "unknown command 'dial'; type help for the list"),
        ("call-1", "unknown command 'call-1'; type help for the list"),
        ("EOF", "unknown command 'EOF'; type help for the list"),
        ("call", "usage: call <call id> [priority=N]"),
        ("call 1 2", "usage: call <call id> [priority=N]"),
        ("call 1 priority=11", "priority must be a whole number from 0 to 9, not 11"),
        ("call 1 queue=sales", "no queue sales: use one of default"),
        ("pause", "usage: pause <operator id> [reason...]"),
        ("unpause A B", "usage: unpause <operator id>"),
        ("login", "usage: login <operator id>"),
        ("logout A B", "usage: logout <operator id>"),
        ("pause Q", "no operator Q"),
        ("unpause A", "operator A is not paused"),
        ("login A", "operator A is already logged in"),
        ("answer", "usage: answer <operator id>"),
        ("reject A B", "usage: reject <operator id>"),
        ("hangup", "usage: hangup <call id>"),
        ("status now", "usage: status"),
        ("stats now", "usage: stats"),
        ("answer Q", "no operator Q"),
        ("hangup 42", "no call 42 in progress"),
    ],
)
def test_bad_commands_print_one_error_and_change_nothing(line, error):
    shell, output, _, center = make_shell()
    shell.onecmd("call 7")
    before = center.status()
    assert not shell.onecmd(line)
    assert output.errors == [error]
    assert center.status() == before


def test_empty_line_does_nothing_not_the_last_command_again():
    shell, output, _, _ = make_shell()
    shell.onecmd("call 1")
    shell.onecmd("")
    shell.onecmd("   ")
    assert output.out == ["Call 1 received", "Call 1 ringing for operator A"]
    assert output.errors == []


def test_whitespace_around_commands_is_ignored():
    shell, output, _, _ = make_shell()
    shell.onecmd("  call\t1  ")
    assert output.out == ["Call 1 received", "Call 1 ringing for operator A"]


def test_quit_ends_and_help_lists_the_commands():
    shell, output, _, _ = make_shell()
    assert shell.onecmd("quit") is True
    shell.onecmd("help")
    text = "".join(output.out)
    commands = ["call", "answer", "reject", "hangup", "pause", "unpause", "login", "logout", "status", "stats", "quit"]
    for name in commands:
        assert name in text
    del output.out[:]
    shell.onecmd("help call")
    assert "call <call id>" in "".join(output.out)


def test_help_stats_explains_each_figure_and_stats_prints_the_table():
    shell, output, clock, _ = make_shell()
    shell.onecmd("help stats")
    text = "".join(output.out)
    for figure in [
        "Calls received",
        "Calls answered",
        "Calls missed",
        "Calls waiting",
        "Calls ringing",
        "Wait before answer",
        "Service level",
        "State, For",
        "Answered",
        "Rejected, Ignored",
        "Talk time",
    ]:
        assert "\n  " + figure in text
    del output.out[:]
    shell.onecmd("call 1")
    clock.advance(3)
    shell.onecmd("answer A")
    shell.onecmd("stats")
    assert output.out[2:5] == [
        "Call 1 answered by operator A",
        "Calls received: 1",
        "Calls answered: 1 (1 talking now, 0 finished)",
    ]
    assert output.out[-2:] == [
        "A         busy       0:00:00         1         0        0    0:00:00",
        "B         available  0:00:03         0         0        0    0:00:00",
    ]
    assert output.errors == []


def test_completion_of_commands_and_operator_ids():
    shell, _, _, _ = make_shell(operators=("A", "B", "AB"))
    assert shell.completions("") == sorted(
        [
            "answer",
            "call",
            "finish",
            "hangup",
            "help",
            "level",
            "login",
            "logout",
            "pause",
            "quit",
            "reject",
            "stats",
            "status",
            "unpause",
        ]
    )
    assert shell.completions("st") == ["stats", "status"]
    assert shell.completions("answer ") == ["A", "AB", "B"]
    assert shell.completions("reject A") == ["A", "AB"]
    assert shell.completions("call ") == []
    assert shell.completions("answer A ") == []
    for command in ["pause", "unpause", "login", "logout", "finish", "level"]:
        assert shell.completions(command + " A") == ["A", "AB"]
    assert shell.completions("level A 2 ") == []  # queue= only where there is a choice
    shell.learn_operators(["Y", "X"])
    assert shell.completions("answer ") == ["X", "Y"]


def test_completion_of_call_options_and_queue_names():
    shell, _, _, _ = make_shell(queues=parse_queues("[sales]\noperators = A\n[support]\noperators = A, B\n"))
    assert shell.completions("call 7 ") == ["priority=", "queue="]
    assert shell.completions("call 7 q") == ["queue="]
    assert shell.completions("call 7 queue=") == ["queue=sales", "queue=support"]
    assert shell.completions("call 7 queue=su") == ["queue=support"]
    assert shell.completions("call 7 priority=3 queue=sa") == ["queue=sales"]
    assert shell.completions("call 7 queue=nope") == []
    one_queue, _, _, _ = make_shell()
    assert one_queue.completions("call 7 ") == ["priority="]  # queue= only where there is a choice
    assert shell.completions("level A 2 ") == ["queue=sales", "queue=support"]
    assert shell.completions("level A 2 queue=sa") == ["queue=sales"]
    assert shell.completions("level A 2 queue=sales ") == []
    shell.learn_queues(["billing", "support"])
    assert shell.completions("call 7 queue=") == ["queue=billing", "queue=support"]


def test_finish_and_level_on_a_local_call_center():
    shell, output, _, _ = make_shell()
    for line in ["call 1", "answer A", "finish A", "level B 2", "level B", "level B 2 sales", "finish"]:
        shell.onecmd(line)
    assert output.out == [
        "Call 1 received",
        "Call 1 ringing for operator A",
        "Call 1 answered by operator A",
        "Call 1 finished by operator A, now available",
        "Operator B at level 2",
    ]
    assert output.errors == [
        "usage: level <operator id> <level> [queue=NAME]",
        "usage: level <operator id> <level> [queue=NAME]",
        "usage: finish <operator id>",
    ]


def feed(console, data):
    transport = StringTransport()
    console.makeConnection(transport)
    console.dataReceived(data)
    return transport


def test_line_console_runs_each_line_and_ends_at_end_of_input():
    shell, output, _, _ = make_shell()
    done = defer.Deferred()
    console = LineConsole(shell, output, done)
    feed(console, b"call 1\r\nanswer A\nhangup 1")  # the last line has no newline yet
    assert output.out == ["Call 1 received", "Call 1 ringing for operator A", "Call 1 answered by operator A"]
    assert not done.called
    console.readConnectionLost()
    assert output.out[-1] == "Call 1 finished and operator A available"
    assert done.called


def test_line_console_stops_reading_at_quit():
    shell, output, _, _ = make_shell()
    done = defer.Deferred()
    console = LineConsole(shell, output, done)
    feed(console, b"call 1\nquit\ncall 2\n")
    assert output.out == ["Call 1 received", "Call 1 ringing for operator A"]
    assert done.called


def test_line_console_survives_bad_bytes_and_long_lines():
    shell, output, _, _center = make_shell()
    console = LineConsole(shell, output, defer.Deferred())
    feed(console, b"call \xff\n" + b"x" * 70000 + b"\ncall 1\n")
    assert output.errors == [
        "the line is not valid UTF-8; it was ignored",
        "line longer than 16384 bytes; it was ignored",
    ]
    assert output.out == ["Call 1 received", "Call 1 ringing for operator A"]


def test_ring_timeout_prints_while_input_waits():
    shell, output, clock, _ = make_shell(ring_timeout=10)
    console = LineConsole(shell, output, defer.Deferred())
    feed(console, b"call 1\n")
    clock.advance(10)
    assert output.out[-2:] == ["Call 1 ignored by operator A", "Call 1 ringing for operator B"]


def test_stream_output_writes_utf8_through_transports_and_errors_on_stderr():
    stdout, stderr = StringTransport(), StringTransport()
    output = StreamOutput(stdout, stderr)
    output.lines(["Call \u260e received"])
    output.error("no call x")
    output.lines([])
    assert stdout.value() == "Call \u260e received\n".encode("utf-8")
    assert stderr.value() == b"error: no call x\n"


def test_stream_output_batches_one_read_into_one_write_per_stream_in_order():
    stdout, stderr = StringTransport(), StringTransport()
    output = StreamOutput(stdout, stderr)
    writes = []
    stdout.write = writes.append
    output.batch()
    output.lines(["Call 1 received"])
    output.error("no call 2 in progress")
    output.lines(["Call 3 received"])
    assert writes == [] and stderr.value() == b""
    output.flush()
    assert writes == [b"Call 1 received\nCall 3 received\n"]
    assert stderr.value() == b"error: no call 2 in progress\n"
    # One file for both (2>&1): one transport, and the lines in the order they were made.
    both = StringTransport()
    output = StreamOutput(both)
    output.batch()
    output.lines(["Call 1 received"])
    output.error("no call 2 in progress")
    output.lines(["Call 3 received"])
    output.flush()
    assert both.value() == b"Call 1 received\nerror: no call 2 in progress\nCall 3 received\n"


def stdio_console(ring_timeout=10):
    """A console on StringTransport as stdin and stdout, output through the same transport."""
    transport = StringTransport()
    output = StreamOutput(transport)
    shell, _, clock, _ = make_shell(ring_timeout=ring_timeout, output=output)
    done = defer.Deferred()
    console = LineConsole(shell, output, done)
    console.makeConnection(transport)
    return console, transport, clock, done


def test_a_full_stdout_pauses_stdin_and_keeps_the_lines_read_for_later():
    console, transport, _, done = stdio_console()
    hold = transport.producer
    assert transport.streaming
    # stdout's transport is past its buffer size: it pauses its producer, which stops
    # reading stdin. What was read already waits; nothing is run or lost.
    hold.pauseProducing()
    assert transport.producerState == "paused"
    console.dataReceived(b"call 1\ncall 2\ncall 3\n")
    assert transport.value() == b""
    # Drained: reading resumes and the waiting lines run, in order.
    hold.resumeProducing()
    assert transport.producerState == "producing"
    assert transport.value() == (
        b"Call 1 received\nCall 1 ringing for operator A\n"
        b"Call 2 received\nCall 2 ringing for operator B\n"
        b"Call 3 received\nCall 3 waiting in queue\n"
    )
    assert not done.called


def test_ring_timeouts_print_while_stdin_is_paused():
    console, transport, clock, _ = stdio_console(ring_timeout=10)
    console.dataReceived(b"call 1\n")
    transport.clear()
    transport.producer.pauseProducing()
    console.dataReceived(b"call 2\n")
    clock.advance(10)
    assert transport.value() == b"Call 1 ignored by operator A\nCall 1 ringing for operator B\n"


def test_end_of_input_while_paused_waits_for_the_lines_already_read():
    console, transport, _, done = stdio_console()
    transport.producer.pauseProducing()
    console.dataReceived(b"call 1\ncall 2")  # the last line has no newline
    console.readConnectionLost()
    assert not done.called and transport.value() == b""
    transport.producer.resumeProducing()
    assert transport.value() == (
        b"Call 1 received\nCall 1 ringing for operator A\nCall 2 received\nCall 2 ringing for operator B\n"
    )
    assert done.called


def test_every_reason_to_wait_must_end_before_stdin_is_read_again():
    console, transport, _, _ = stdio_console()
    follower = StringTransport()
    console.followers.append(follower)  # the client's server connection
    console.hold("stdout")
    console.hold("server")
    assert follower.producerState == "paused"  # replies wait in the server while stdout is full
    console.release("stdout")
    assert follower.producerState == "producing"
    assert console.paused and transport.producerState == "paused"  # the server is still slow
    console.release("server")
    assert not console.paused and transport.producerState == "producing"


def test_stdout_gone_ends_the_session_quietly():
    console, _, _, done = stdio_console()
    console.connectionLost()  # its reader went away (| head)
    assert done.called and console.closed.called


def make_terminal(ring_timeout=10, operators=("A", "B"), queues=None):
    output = TerminalOutput()
    shell, _, clock, _ = make_shell(operators=operators, ring_timeout=ring_timeout, output=output, queues=queues)
    done = defer.Deferred()

    def build():
        output.console = TerminalConsole(shell, done)
        return output.console

    transport = StringTransport()
    terminal = insults.ServerProtocol(build)
    terminal.makeConnection(transport)
    return terminal, transport, clock, done


def test_terminal_prompt_command_and_output():
    terminal, transport, _, _ = make_terminal()
    assert transport.value().startswith(b"callcenter> ")  # no screen reset before it
    transport.clear()
    terminal.dataReceived(b"call 1\r")
    screen = transport.value()
    assert b"Call 1 received\r\nCall 1 ringing for operator A\r\n" in screen
    assert screen.endswith(b"callcenter> ")


def test_terminal_event_redraws_the_half_typed_line():
    terminal, transport, clock, _ = make_terminal()
    terminal.dataReceived(b"call 1\r")
    terminal.dataReceived(b"answ")
    transport.clear()
    clock.advance(10)
    screen = transport.value()
    # Back to the start of the line, erase it, print the event, redraw prompt and typing.
    assert screen.startswith(b"\r\x1b[2K")
    assert b"Call 1 ignored by operator A\r\nCall 1 ringing for operator B\r\n" in screen
    assert screen.endswith(b"callcenter> answ")


def test_terminal_history_tab_completion_and_ctrl_d():
    terminal, transport, _, done = make_terminal()
    terminal.dataReceived(b"statu\t\r")  # "sta" would be stats or status
    assert b"Operator A available" in transport.value()
    transport.clear()
    terminal.dataReceived(b"\x1b[A")  # up arrow: the last command again
    assert transport.value().endswith(b"status ")
    terminal.dataReceived(b"\x15")  # Ctrl-U clears the line
    terminal.dataReceived(b"\x04")  # Ctrl-D on an empty line ends the session
    assert done.called


def test_tab_completes_an_option_without_a_space_and_a_queue_name_with_one():
    terminal, _, _, _ = make_terminal(queues=parse_queues("[sales]\noperators = A\n[support]\noperators = B\n"))
    terminal.dataReceived(b"call 7 q\t")
    assert typed_line(terminal) == b"call 7 queue="  # its value comes next
    terminal.dataReceived(b"su\t")
    assert typed_line(terminal) == b"call 7 queue=support "


def typed_line(terminal):
    """What the terminal's input line holds now."""
    return b"".join(terminal.terminalProtocol.lineBuffer)


def test_tab_extends_to_the_common_prefix_of_several_candidates():
    terminal, transport, _, _ = make_terminal()
    terminal.dataReceived(b"s\t")
    assert typed_line(terminal) == b"stat"  # both stats and status start with it
    transport.clear()
    terminal.dataReceived(b"\t")  # nothing more in common: the candidates are listed
    assert b"stats  status\r\n" in transport.value()
    assert typed_line(terminal) == b"stat"
    terminal.dataReceived(b"u\t")
    assert typed_line(terminal) == b"status "


@pytest.mark.parametrize(
    "operators, typed, completed",
    [
        (("/a", "/b"), b"answer \t", b"answer /"),
        (("/a", "/b"), b"answer /a\t", b"answer /a "),
        (("a,b", "a,c"), b"reject a\t", b"reject a,"),
        (("a,b", "a,c"), b"reject a,c\t", b"reject a,c "),
        (("/x", "x"), b"answer \t", b"answer "),
    ],
)
def test_tab_completes_odd_operator_ids(operators, typed, completed):
    terminal, transport, _, _ = make_terminal(operators=operators)
    terminal.dataReceived(typed)
    assert typed_line(terminal) == completed
    assert b"Traceback" not in transport.value()
