"""The client's server address from the environment (CALLCENTER_CONNECT), as containers pass it."""

import os
import subprocess

from callcenter.cli.arguments import DEFAULT_CONNECT, ClientOptions
from support import command, free_port, read_golden

COMMANDS, EXPECTED = read_golden()
GOLDEN_INPUT = "".join(line + "\n" for line in COMMANDS).encode("utf-8")


def client(argv, connect_env):
    env = dict(os.environ, CALLCENTER_CONNECT=connect_env)
    return subprocess.run(
        [command("callcenter-client"), *argv],
        input=GOLDEN_INPUT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        timeout=30,
    )


def test_the_client_connects_where_the_environment_says(start_server):
    server = start_server()
    result = client([], "tcp:127.0.0.1:%d" % server.port)
    assert result.stdout.decode("utf-8") == EXPECTED
    assert result.returncode == 0


def test_connect_given_on_the_command_line_wins_over_the_environment(start_server):
    server = start_server()
    result = client(["--connect", "tcp:127.0.0.1:%d" % server.port], "tcp:127.0.0.1:%d" % free_port())
    assert result.stdout.decode("utf-8") == EXPECTED
    assert result.returncode == 0


def test_options_take_the_environment_then_the_default():
    options = ClientOptions(environ={"CALLCENTER_CONNECT": "tcp:server:5678"})
    options.parseOptions([])
    assert options["connect"] == "tcp:server:5678"
    options = ClientOptions(environ={"CALLCENTER_CONNECT": ""})
    options.parseOptions([])
    assert options["connect"] == DEFAULT_CONNECT
    options = ClientOptions(environ={"CALLCENTER_CONNECT": "tcp:server:5678"})
    options.parseOptions(["--connect", "tcp:other:6000"])
    assert options["connect"] == "tcp:other:6000"
