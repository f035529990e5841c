"""The server's options of the replicated store (--etcd) and the clients' several servers."""

import pytest
from twisted.python import usage

from callcenter.cli.arguments import ClientOptions
from callcenter.sim.planning import SimulateOptions
from callcenter.wiring.options import ServerOptions


def parsed(*argv):
    options = ServerOptions()
    options.parseOptions(list(argv))
    return options


def test_etcd_takes_urls_a_prefix_and_a_name_of_its_own():
    options = parsed("--etcd", "http://10.0.0.1:2379, http://10.0.0.2:2379", "--listen", "tcp:6000")
    assert options["etcd"] == ["http://10.0.0.1:2379", "http://10.0.0.2:2379"]
    assert options["etcd-prefix"] == "/callcenter/"
    assert options["etcd-name"].endswith(":6000")
    assert options["etcd-lease"] == 3
    assert options["etcd-credentials"].user is None


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (["--etcd", "http://e1:2379", "--state-dir", "/tmp/x"], "--etcd and --state-dir"),
        (["--etcd", "e1:2379"], "is not an etcd endpoint like http://127.0.0.1:2379"),
        (["--etcd", "http://e1:2379,https://e2:2379"], "all https or all http"),
        (["--etcd", "http://e1:2379", "--etcd-prefix", "/callcenter"], "must end with /"),
        (["--etcd", "http://e1:2379", "--etcd-lease", "1"], "2 or more"),
        (["--etcd", "http://e1:2379", "--etcd-cert", "/etc/hostname"], "go together"),
        (
            ["--etcd", "http://e1:2379", "--etcd-user-file", "/nonexistent"],
            "--etcd-user-file: cannot read /nonexistent",
        ),
    ],
)
def test_mistakes_are_one_usage_error_each(argv, error):
    with pytest.raises(usage.UsageError, match=error):
        parsed(*argv)


def test_credentials_come_from_files(tmp_path):
    user_file = tmp_path / "user"
    user_file.write_text("callcenter:s3cret:with:colons\n")
    options = parsed("--etcd", "https://e1:2379", "--etcd-user-file", str(user_file), "--etcd-ca", str(user_file))
    credentials = options["etcd-credentials"]
    assert (credentials.user, credentials.password) == ("callcenter", "s3cret:with:colons")
    assert credentials.ca == b"callcenter:s3cret:with:colons\n"
    user_file.write_text("no colon\n")
    with pytest.raises(usage.UsageError, match="must hold USER:PASSWORD"):
        parsed("--etcd", "http://e1:2379", "--etcd-user-file", str(user_file))


def test_the_client_takes_several_servers_repeated_or_listed():
    options = ClientOptions(environ={})
    options.parseOptions(["--connect", "tcp:h1:5678", "-c", "tcp:h2:5678"])
    assert options["servers"] == ["tcp:h1:5678", "tcp:h2:5678"]
    options = ClientOptions(environ={"CALLCENTER_CONNECT": "tcp:h1:5678, tcp:h2:5678 tcp:h3:5678"})
    options.parseOptions([])
    assert options["servers"] == ["tcp:h1:5678", "tcp:h2:5678", "tcp:h3:5678"]


def test_simulate_takes_several_servers():
    options = SimulateOptions()
    traffic = ["--calls-per-hour", "60", "--handle-time", "60"]
    options.parseOptions([*traffic, "--connect", "tcp:h1:5678", "--connect", "tcp:h2:5678"])
    assert options["servers"] == ["tcp:h1:5678", "tcp:h2:5678"]
    options = SimulateOptions()
    options.parseOptions(traffic)
    assert options["connect"] is None
