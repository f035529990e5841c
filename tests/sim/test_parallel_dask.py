"""--dask ADDRESS: the replications as tasks on a Dask cluster of two worker processes that the test
starts on loopback, as Dask's docs start them (``dask scheduler``, ``dask worker``)."""

import os
import subprocess
import sys
import time

import pytest
from bench.common import stop

from support import command, free_port, planning_output

if sys.version_info < (3, 10):  # Dask's own floor; the test venv installs it there
    pytest.skip(
        "Dask needs Python 3.10 or newer: it runs on the newest Python (make test-new); 3.6 keeps --workers",
        allow_module_level=True,
    )

BASE = ["simulate", "--calls-per-hour", "300", "--handle-time", "120", "--operators", "12", "--duration", "2h"]


class Cluster(object):
    """A scheduler and two workers (one thread each: the simulation is pure Python)."""

    def __init__(self, directory):
        import distributed

        port = free_port()
        self.address = "tcp://127.0.0.1:%d" % port
        self.processes = []
        self.logs = []
        self.start(
            [command("dask"), "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"], directory
        )
        self.workers = []
        for name in ("one", "two"):
            worker = [command("dask"), "worker", self.address, "--name", name, "--nthreads", "1"]
            worker += ["--host", "127.0.0.1", "--no-dashboard", "--death-timeout", "60"]
            worker += ["--local-directory", str(directory)]
            self.workers.append(self.start(worker, directory))
        self.client = distributed.Client(self.address, timeout="30s", set_as_default=False)
        self.client.wait_for_workers(2, timeout=60)

    def start(self, argv, directory):
        log = open(os.path.join(str(directory), "dask-%d.log" % len(self.processes)), "wb")
        self.logs.append(log)
        process = subprocess.Popen(
            argv, cwd=str(directory), stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
        )
        self.processes.append(process)
        return process

    def close(self):
        self.client.close()
        for process in reversed(self.processes):
            stop(process, timeout=15)
        for log in self.logs:
            log.close()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    running = Cluster(tmp_path_factory.mktemp("dask"))
    yield running
    running.close()


def test_dask_prints_the_same_bytes_as_one_process(cluster, tmp_path):
    argv = [*BASE, "--replications", "9", "--seed", "4", "--patience", "90", "--interval", "30m", "--format", "json"]
    one = planning_output([*argv, "--workers", "1"])
    on_dask = planning_output([*argv, "--dask", cluster.address])
    assert on_dask == one
    table = [*BASE, "--replications", "6", "--transcript", str(tmp_path / "t")]
    assert planning_output([*table, "--dask", cluster.address]) == planning_output([*table, "--workers", "1"])


def test_a_worker_lost_mid_run_costs_its_tasks_not_the_run(cluster):
    # Tasks of about a second each, so that both workers are at one when one is killed.
    argv = [command("callcenter"), "simulate", "--calls-per-hour", "2400", "--handle-time", "120"]
    argv += ["--operators", "90", "--duration", "12h", "--replications", "12", "--seed", "3", "--format", "json"]
    run = subprocess.Popen(
        [*argv, "--dask", cluster.address], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            busy = [address for address, keys in cluster.client.processing().items() if keys]
            if len(busy) == 2:
                break
            time.sleep(0.05)
        assert len(busy) == 2, "both workers never ran a task at once"
        stop(cluster.workers[0], timeout=15)  # nanny and worker: the worker is gone for good
        out, err = run.communicate(timeout=300)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    assert run.returncode == 0, err
    alone = subprocess.run([*argv, "--workers", "1"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
    assert out == alone.stdout
    assert len(cluster.client.nthreads()) == 1  # it ran on the one worker left


def test_no_scheduler_at_the_address_is_one_error_line():
    done = subprocess.run(
        [command("callcenter"), *BASE, "--dask", "tcp://127.0.0.1:%d" % free_port()],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        timeout=120,
    )
    assert done.returncode == 2 and done.stdout == b""
    (line,) = done.stderr.decode().splitlines()
    assert line.startswith("callcenter simulate: error: --dask: no Dask scheduler answers at tcp://127.0.0.1:")
