"""The routing options and commands through the installed programs: the one-process shell,
the client against callcenter-server and twistd, and a bad option's usage error."""

import pytest

from support import command, run

SESSION = b"pause A lunch\ncall 1\ncall 2 priority=4\nstatus\nunpause A\nlogin C\nstatus\n"
EXPECTED = (
    b"Operator A paused: lunch\n"
    b"Call 1 received\nCall 1 ringing for operator B\n"
    b"Call 2 received\nCall 2 waiting in queue\n"
    b"Operator A paused: lunch\nOperator B ringing with call 1\nQueued call 2 (priority 4)\n"
    b"Operator A available\nCall 2 ringing for operator A\n"
    b"Operator C available\n"
    b"Operator A ringing with call 2\nOperator B ringing with call 1\nOperator C available\n"
)
OPTIONS = ["--strategy", "round-robin", "--wrap-up", "5", "--max-queue", "3", "--max-wait", "60"]


def test_the_shell_takes_the_routing_options_and_commands():
    result = run([command("callcenter"), *OPTIONS], SESSION)
    assert (result.stdout, result.stderr, result.returncode) == (EXPECTED, b"", 0)


@pytest.mark.parametrize("twistd", [False, True])
def test_the_client_and_the_server_take_them_too(start_server, twistd):
    server = start_server(*OPTIONS, twistd=twistd)
    result = run([command("callcenter-client"), "--connect", "tcp:127.0.0.1:%d" % server.port], SESSION)
    assert (result.stdout, result.stderr, result.returncode) == (EXPECTED, b"", 0)


def test_an_unknown_strategy_is_a_usage_error():
    result = run([command("callcenter-server"), "--strategy", "fastest"])
    assert result.returncode == 2
    assert b"error: --strategy takes one of linear, round-robin" in result.stderr
