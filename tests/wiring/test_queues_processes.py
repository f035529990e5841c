"""--queues through the installed programs: the one-process shell, the client against
callcenter-server and twistd (the queue goes on the wire as its own field), and a bad file's
usage error naming the file and the line."""

import pytest

from support import command, run

FILE = "[sales]\noperators = A, B\n\n[support]\n# B helps support at level 1\noperators = C, B:1\nweight = 1\n"
SESSION = (
    b"call 1\ncall 2 queue=support\ncall 3 queue=support priority=2\ncall 4\nstatus\ncall 5 queue=billing\nhangup 1\n"
)
EXPECTED = (
    b"Call 1 received\nCall 1 ringing for operator A\n"
    b"Call 2 received\nCall 2 ringing for operator C\n"
    b"Call 3 received\nCall 3 ringing for operator B\n"
    b"Call 4 received\nCall 4 waiting in queue\n"
    b"Queue sales\nOperator A ringing with call 1\nOperator B ringing with call 3\nQueued call 4\n"
    b"Queue support\nOperator B ringing with call 3\nOperator C ringing with call 2\n"
    b"Call 1 missed\nCall 4 ringing for operator A\n"
)


@pytest.fixture
def queues_file(tmp_path):
    path = tmp_path / "queues.ini"
    path.write_text(FILE)
    return str(path)


def test_the_shell_takes_a_queues_file(queues_file):
    result = run([command("callcenter"), "--queues", queues_file], SESSION)
    assert (result.stdout, result.stderr, result.returncode) == (
        EXPECTED,
        b"error: no queue billing: use one of sales, support\n",
        0,
    )


@pytest.mark.parametrize("twistd", [False, True])
def test_the_client_and_the_server_take_it_too(start_server, queues_file, twistd):
    server = start_server("--queues", queues_file, twistd=twistd)
    result = run([command("callcenter-client"), "--connect", "tcp:127.0.0.1:%d" % server.port], SESSION)
    assert (result.stdout, result.stderr, result.returncode) == (
        EXPECTED,
        b"error: no queue billing: use one of sales, support\n",
        0,
    )


def test_a_bad_file_is_a_usage_error_naming_file_and_line(tmp_path):
    path = tmp_path / "queues.ini"
    path.write_text("[sales]\noperators = A\nstrategy = fastest\n")
    result = run([command("callcenter-server"), "--queues", str(path)])
    assert result.returncode == 2
    assert ("error: --queues: %s line 3: queue sales: strategy must be one of linear" % path).encode() in result.stderr
