"""callcenter simulate --connect: the model's traffic played against a real server."""

import json
import subprocess

from support import command


def test_live_traffic_reaches_the_server_and_its_stats(start_server):
    server = start_server("--operators", "4", "--ring-timeout", "3")
    endpoint = "tcp:127.0.0.1:%d" % server.port
    # 20 virtual minutes at 400x: 3 s of real time; a few rings time out at the server (answer
    # delay 2 s on average, ring timeout 3 s).
    done = subprocess.run(
        [
            command("callcenter"),
            "simulate",
            "--connect",
            endpoint,
            "--speed",
            "400",
            "--duration",
            "20m",
            "--calls-per-hour",
            "240",
            "--handle-time",
            "45",
            "--answer-delay",
            "2",
            "--patience",
            "90",
            "--format",
            "json",
            "--seed",
            "3",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout.decode())
    assert document["model"].startswith("4 operators, 240 calls/h")  # the server's operators
    total = document["total"]
    offered = total["offered"]["mean"]
    assert 40 < offered < 130  # 80 expected
    assert total["answered"]["mean"] + round(offered * total["abandoned_pct"]["mean"] / 100) == offered
    stats = subprocess.run(
        [command("callcenter-client"), "--connect", endpoint], input=b"stats\n", stdout=subprocess.PIPE, timeout=30
    ).stdout.decode()
    lines = stats.splitlines()
    assert lines[0] == "Calls received: %d" % offered
    assert lines[1].startswith("Calls answered: %d (0 talking now" % total["answered"]["mean"])
    assert lines[3].startswith("Calls waiting: 0")


def test_no_server_is_one_error_line_and_exit_1():
    done = subprocess.run(
        [
            command("callcenter"),
            "simulate",
            "--connect",
            "tcp:127.0.0.1:1",
            "--calls-per-hour",
            "1",
            "--handle-time",
            "1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        timeout=60,
    )
    assert done.returncode == 1 and done.stdout == b""
    assert done.stderr.decode().startswith("callcenter simulate: cannot connect to tcp:127.0.0.1:1: ")


def test_live_mode_sends_the_token_first(start_server, tmp_path):
    token = tmp_path / "token"
    token.write_text("s3cret-token\n")
    wrong = tmp_path / "wrong"
    wrong.write_text("not-it\n")
    server = start_server("--operators", "2", "--auth-token-file", str(token))
    arguments = [command("callcenter"), "simulate", "--connect", "tcp:127.0.0.1:%d" % server.port]
    arguments += ["--speed", "600", "--duration", "5m", "--calls-per-hour", "120", "--handle-time", "30"]
    done = subprocess.run(
        [*arguments, "--auth-token-file", str(token)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode().startswith("callcenter simulate: 2 operators, 120 calls/h")
    refused = subprocess.run(
        [*arguments, "--auth-token-file", str(wrong)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60
    )
    assert refused.returncode == 1 and refused.stdout == b""
    assert refused.stderr == b"callcenter simulate: the server did not accept the token: authentication failed\n"


def test_live_traffic_goes_into_the_profiles_queues(start_server, tmp_path):
    queues = tmp_path / "queues.ini"
    queues.write_text("[sales]\noperators = A, B\n[support]\noperators = B, C\n")
    profile = tmp_path / "day.csv"
    profile.write_text("0,360,support,4\n600,360,support,4\n")
    server = start_server("--queues", str(queues), "--ring-timeout", "0")
    endpoint = "tcp:127.0.0.1:%d" % server.port
    arguments = ["--speed", "600", "--profile", str(profile), "--queues", str(queues), "--handle-time", "30"]
    done = subprocess.run(
        [command("callcenter"), "simulate", "--connect", endpoint, *arguments, "--format", "json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    offered = json.loads(done.stdout.decode())["total"]["offered"]["mean"]
    assert 50 < offered < 160  # 360 an hour for 20 minutes: 120 expected
    stats = subprocess.run(
        [command("callcenter-client"), "--connect", endpoint], input=b"stats\n", stdout=subprocess.PIPE, timeout=30
    ).stdout.decode()
    (support,) = [line for line in stats.splitlines() if line.startswith("Queue support: ")]
    assert support.startswith("Queue support: %d received, %d answered" % (offered, offered))
    (sales,) = [line for line in stats.splitlines() if line.startswith("Queue sales: ")]
    assert sales.startswith("Queue sales: 0 received")
