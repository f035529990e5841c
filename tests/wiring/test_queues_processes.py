"""--queues through the installed programs: the one-process shell, the client against
callcenter-server and twistd (the queue goes on the wire as its own field), and a bad file's
usage error naming the file and the line."""

import pytest

from support import ask, command, connect, run

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


def test_finish_and_level_through_the_client_and_as_json_fields(start_server, queues_file):
    server = start_server("--queues", queues_file, "--ring-timeout", "0")
    session = b"level B 0 queue=support\ncall 1 queue=support\nanswer B\nfinish B\nlevel B 100\nfinish B\n"
    result = run([command("callcenter-client"), "--connect", "tcp:127.0.0.1:%d" % server.port], session)
    assert (result.stdout, result.stderr, result.returncode) == (
        b"Operator B at level 0 in queue support\n"
        b"Call 1 received\nCall 1 ringing for operator B\n"  # level 0 now, before C in configured order
        b"Call 1 answered by operator B\n"
        b"Call 1 finished by operator B, now available\n",
        b"error: a level is a whole number from 0 to 99, not 100\nerror: operator B is available, not on a call\n",
        0,
    )
    connection = connect(server.port)
    assert ask(connection, {"command": "level", "id": "C", "level": 2, "queue": "support"}) == {
        "response": "Operator C at level 2 in queue support"
    }
    assert ask(connection, {"command": "level", "id": "A", "level": "2"}) == {"response": "Operator A at level 2"}
    assert ask(connection, {"command": "level", "id": "A", "level": 1.5}) == {
        "error": '"level" must be a whole number from 0 to 99'
    }
    assert ask(connection, {"command": "level", "id": "A"}) == {
        "error": "level needs an operator id and a level: level <operator id> <level> [queue=NAME]"
    }
    assert ask(connection, {"command": "call", "id": "2"}) == {
        "response": "Call 2 received\nCall 2 ringing for operator B"
    }
    assert ask(connection, {"command": "answer", "id": "B"}) == {"response": "Call 2 answered by operator B"}
    assert ask(connection, {"command": "finish", "id": "B"}) == {
        "response": "Call 2 finished by operator B, now available"
    }
    connection.close()
