"""Real AMI clients, unchanged, against a real server (``--ami``): py-Asterisk 0.6.0 (what QPanel
polls with), asterisk-ami 0.1.7 and panoramisk 1.4, each in its own venv of a Python it supports
(``make .venv-ami/.ready``: requirements/ami-clients.txt), each asserting what the tool itself
reports, while ``callcenter simulate --connect`` plays traffic against the same server."""

import json
import os
import socket
import ssl
import subprocess

import pytest

from support import command, free_port, make_certificates

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CLIENTS = os.path.join(HERE, "ami_clients")
USERS = "[admin]\nsecret = s3cret\nread = all\nwrite = all\n"


def client_python(name):
    python = os.path.join(ROOT, ".venv-ami", name, "bin", "python")
    assert os.path.exists(python), "%s is not installed: make .venv-ami/.ready" % name
    return python


def report(name, script, port, *extra, timeout=60):
    done = subprocess.run(
        [client_python(name), os.path.join(CLIENTS, script), "127.0.0.1", str(port), "admin", "s3cret", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stderr.decode()
    return [json.loads(line) for line in done.stdout.decode().splitlines() if line.startswith("{")]


@pytest.fixture
def ami_server(start_server, tmp_path):
    """start(*args, endpoint=...) -> (server, ami port): a server with --ami on a free port."""
    users = tmp_path / "manager.conf"
    users.write_text(USERS)

    def start(*extra, endpoint="tcp:{port}:interface=127.0.0.1"):
        port = free_port()
        server = start_server(
            "--ami", endpoint.format(port=port), "--ami-users", str(users), *extra, also_listening=(port,)
        )  # fmt: skip
        return server, port

    return start


def simulate(server, *extra):
    """``callcenter simulate --connect`` against ``server``, in the background."""
    return subprocess.Popen(
        [
            command("callcenter"),
            "simulate",
            "--connect",
            "tcp:127.0.0.1:%d" % server.port,
            "--calls-per-hour",
            "600",
            "--handle-time",
            "60",
            "--answer-delay",
            "2",
            "--seed",
            "29",
            *extra,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def json_client(server, *commands):
    return subprocess.run(
        [command("callcenter-client"), "--connect", "tcp:127.0.0.1:%d" % server.port],
        input="".join(line + "\n" for line in commands).encode(),
        stdout=subprocess.PIPE,
        timeout=30,
    ).stdout.decode()


def test_py_asterisk_polls_queue_status_like_qpanel(ami_server):
    server, port = ami_server("--operators", "A,B")
    json_client(server, "call 1", "answer A", "call 2", "call 3", "pause B lunch")
    (queues,) = report("py-asterisk", "py_asterisk_report.py", port)
    default = queues["default"]
    assert default["Calls"] == "2" and default["Strategy"] == "linear"
    assert default["members"]["Agent/A"]["Status"] == "2"  # in use
    assert default["members"]["Agent/A"]["Name"] == "A"
    assert (default["members"]["Agent/B"]["Paused"], default["members"]["Agent/B"]["PausedReason"]) == ("1", "lunch")
    entries = default["entries"]
    assert sorted(entry["CallerIDNum"] for entry in entries.values()) == ["2", "3"]
    assert sorted(entry["Position"] for entry in entries.values()) == ["1", "2"]


def test_py_asterisk_while_a_simulated_day_plays(ami_server):
    server, port = ami_server("--operators", "4", "--ring-timeout", "5")
    player = simulate(server, "--speed", "60", "--duration", "30m")
    try:
        for _ in range(3):  # a new connection a poll, as QPanel does
            (queues,) = report("py-asterisk", "py_asterisk_report.py", port)
            members = queues["default"]["members"]
            assert sorted(members) == ["Agent/A", "Agent/B", "Agent/C", "Agent/D"]
            assert {member["Status"] for member in members.values()} <= {"1", "2", "6"}
            for entry in queues["default"]["entries"].values():
                assert int(entry["Wait"]) >= 0
    finally:
        player.kill()
        player.wait()


def test_asterisk_ami_reads_the_banner_and_the_crlf_framing(ami_server):
    server, port = ami_server("--operators", "A")
    json_client(server, "call 7")
    (seen,) = report("asterisk-ami", "asterisk_ami_report.py", port)
    assert seen["version"] == "9.0.0"
    assert seen["login"]["status"] == "Success"
    assert seen["login"]["keys"]["Message"] == "Authentication accepted"
    assert seen["ping"]["keys"]["Ping"] == "Pong"
    assert seen["status"]["keys"]["EventList"] == "start"
    names = [event["name"] for event in seen["events"] if event["name"].startswith("Queue")]
    assert names == ["QueueParams", "QueueMember", "QueueStatusComplete"]
    member = next(event for event in seen["events"] if event["name"] == "QueueMember")["keys"]
    assert (member["Name"], member["Status"]) == ("A", "6")  # ringing with call 7


def test_panoramisk_gets_queue_status_as_a_list(ami_server):
    server, port = ami_server("--operators", "A,B")
    json_client(server, "call 1", "call 2", "call 3")
    status, _ = report("panoramisk", "panoramisk_report.py", port, "0.5")
    messages = status["queuestatus"]
    assert messages[0]["Response"] == "Success" and messages[0]["EventList"] == "start"
    assert [message.get("Event") for message in messages[1:]] == [
        "QueueParams",
        "QueueMember",
        "QueueMember",
        "QueueEntry",
        "QueueStatusComplete",
    ]
    assert messages[4]["CallerIDNum"] == "3" and messages[4]["Position"] == "1"


def test_panoramisk_hears_the_events_of_a_call_from_join_to_complete(ami_server):
    server, port = ami_server("--operators", "A")
    listener = subprocess.Popen(
        [
            client_python("panoramisk"),
            os.path.join(CLIENTS, "panoramisk_report.py"),
            "127.0.0.1", str(port), "admin", "s3cret", "30", "AgentComplete",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        assert "queuestatus" in json.loads(listener.stdout.readline().decode())  # logged in, listening
        json_client(server, "call 5", "answer A", "hangup 5")
        out, err = listener.communicate(timeout=60)
    finally:
        listener.kill()
        listener.wait()
    assert listener.returncode == 0, err.decode()
    (events,) = [json.loads(line)["events"] for line in out.decode().splitlines() if line.startswith("{")]
    queue = [event for event in events if event.get("Event", "").startswith(("Queue", "Agent"))]
    names = [event["Event"] for event in queue]
    assert names[:7] == [
        "QueueCallerJoin",
        "AgentCalled",
        "QueueMemberStatus",
        "QueueCallerLeave",
        "AgentConnect",
        "QueueMemberStatus",
        "AgentComplete",
    ]
    assert names[7:] in ([], ["QueueMemberStatus"])  # A free again: it may come in the same read
    assert {event["Uniqueid"] for event in queue if "Uniqueid" in event} == {queue[0]["Uniqueid"]}
    assert (queue[0]["CallerIDNum"], queue[1]["MemberName"], queue[6]["Reason"]) == ("5", "A", "caller")


def test_asterisk_ami_and_py_asterisk_while_a_day_plays_with_a_journal(ami_server, tmp_path):
    server, port = ami_server("--operators", "3", "--ring-timeout", "4", "--state-dir", str(tmp_path / "state"))
    player = simulate(server, "--speed", "60", "--duration", "30m")
    try:
        (seen,) = report("asterisk-ami", "asterisk_ami_report.py", port)
        assert seen["login"]["status"] == "Success"
        members = [event["keys"] for event in seen["events"] if event["name"] == "QueueMember"]
        assert sorted(member["Name"] for member in members) == ["A", "B", "C"]
        (queues,) = report("py-asterisk", "py_asterisk_report.py", port)
        assert sorted(queues["default"]["members"]) == ["Agent/A", "Agent/B", "Agent/C"]
    finally:
        player.kill()
        player.wait()


def test_the_manager_port_over_tls(ami_server, tmp_path):
    paths = make_certificates(str(tmp_path))
    endpoint = "ssl:{port}:interface=127.0.0.1:privateKey=%s:certKey=%s" % (paths["key"], paths["cert"])
    server, port = ami_server("--operators", "A", endpoint=endpoint)
    context = ssl.create_default_context(cafile=os.path.join(paths["ca"], "ca.pem"))
    context.verify_flags &= ~getattr(ssl, "VERIFY_X509_STRICT", 0)  # the test CA has no key identifiers
    with context.wrap_socket(
        socket.create_connection(("127.0.0.1", port), timeout=30), server_hostname="localhost"
    ) as tls:
        received = b""

        def until(marker):
            nonlocal received
            while marker not in received:
                chunk = tls.recv(1 << 16)
                assert chunk, "closed before %r" % marker
                received += chunk

        until(b"\r\n")
        assert received == b"Asterisk Call Manager/9.0.0\r\n"
        tls.sendall(b"Action: Login\r\nUsername: admin\r\nSecret: s3cret\r\nEvents: agent\r\n\r\n")
        until(b"Authentication accepted\r\n\r\n")
        json_client(server, "call 9")
        until(b"Event: AgentCalled\r\n")
        until(b"\r\n\r\nEvent: QueueMemberStatus\r\n")
        assert b"Event: QueueCallerJoin\r\nPrivilege: agent,all\r\nChannel: Local/9@callcenter" in received
        tls.sendall(b"Action: Logoff\r\nActionID: bye\r\n\r\n")
        until(b"Response: Goodbye\r\nActionID: bye\r\nMessage: Thanks for all the fish.\r\n\r\n")
        while tls.recv(1 << 16):  # then the server closes the connection
            pass
