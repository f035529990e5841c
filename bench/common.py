"""What the benchmark scripts share: child processes (pinned, in their own process group,
always killed), loopback ports, statistics, verdicts and the results folder."""

import contextlib
import json
import os
import platform
import random
import resource
import signal
import socket
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "bench", "results")
BIN = os.path.dirname(sys.executable)
HOST = "127.0.0.1"  # every benchmark talks to loopback only

# With two or more cores the load generator gets core 0 and the server under test core 1.
CPUS = sorted(os.sched_getaffinity(0))
PINNING = len(CPUS) >= 2
GENERATOR_CPU = CPUS[0]
SERVER_CPU = CPUS[-1]


def tool(name):
    """A console script of the venv that runs the benchmarks (the app installed in it)."""
    path = os.path.join(BIN, name)
    if not os.path.exists(path):
        sys.exit("bench: %s not found next to %s: install the app into this venv" % (name, sys.executable))
    return path


def raise_nofile(wanted):
    """Raise this process's open-file limit towards ``wanted``, within the hard limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def _child_setup(cpu, nofile):
    def setup():
        if cpu is not None and PINNING:
            os.sched_setaffinity(0, {cpu})
        if nofile:
            raise_nofile(nofile)

    return setup


def spawn(argv, cpu=None, nofile=None, stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL, **kwargs):
    """Start a child in a process group of its own (so that ``stop`` ends all of it)."""
    return subprocess.Popen(
        argv,
        stdin=stdin,
        stdout=stdout,
        cwd=ROOT,
        start_new_session=True,
        preexec_fn=_child_setup(cpu, nofile),
        **kwargs,
    )


def stop(process, timeout=5.0):
    """End a child and its process group: SIGTERM, then SIGKILL."""
    if process is None:
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if process.poll() is not None:
            break
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            continue
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # anything left in the group
    process.wait()


@contextlib.contextmanager
def running(argv, port=None, **kwargs):
    """A child for the length of a ``with`` block; when ``port`` is given, wait for it to listen."""
    process = spawn(argv, **kwargs)
    try:
        if port is not None:
            wait_listening(port, process)
        yield process
    finally:
        stop(process)


def _ports_never_ephemeral():
    """The loopback ports below the kernel's range for connections' own ports: a port chosen
    there cannot become some process's outgoing connection before the server we start binds it
    (with suites and benches side by side, a port from bind(0) sometimes did)."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as ports:
            low = int(ports.read().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    return range(10000, low) if low > 11000 else range(1024, low)


def free_ports(count):
    """``count`` distinct loopback ports free now, chosen at random outside the ephemeral range
    (held together while chosen)."""
    chooser = random.SystemRandom()
    candidates = _ports_never_ephemeral()
    probes = []
    try:
        for _ in range(100 * count):  # bounded: a port taken is skipped
            if len(probes) == count:
                break
            probe = socket.socket()
            try:
                probe.bind((HOST, chooser.choice(candidates)))
            except OSError:
                probe.close()
                continue
            probes.append(probe)
        while len(probes) < count:  # that range is full: any port the kernel gives
            probe = socket.socket()
            probe.bind((HOST, 0))
            probes.append(probe)
        return [probe.getsockname()[1] for probe in probes]
    finally:
        for probe in probes:
            probe.close()


def free_port():
    """A loopback port free now (see ``free_ports``)."""
    return free_ports(1)[0]


def wait_listening(port, process, limit=15.0):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("%s exited with %s before listening" % (process.args[0], process.returncode))
        try:
            socket.create_connection((HOST, port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError("nothing listening on %s:%d after %.0f s" % (HOST, port, limit))


def open_fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def wait_idle(pid, idle_fds, limit=30.0):
    """Wait until a server has closed the connections of the run before (its open
    descriptors are back to ``idle_fds``), so that runs do not overlap."""
    deadline = time.monotonic() + limit
    while open_fds(pid) > idle_fds and time.monotonic() < deadline:
        time.sleep(0.01)


def rss_bytes(pid, field="VmRSS"):
    """Resident memory of a process now (``VmHWM``: its peak so far)."""
    with open("/proc/%d/status" % pid) as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no %s for %d" % (field, pid))


def cpu_seconds(pid):
    """User + system CPU time of a process so far."""
    with open("/proc/%d/stat" % pid) as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values, fraction):
    """Nearest-rank percentile of a sorted list."""
    if not values:
        return None
    rank = max(0, min(len(values) - 1, round(fraction * len(values) + 0.5) - 1))
    return values[rank]


def summary(values):
    """Median of repeated measurements with its spread (min, max and relative half-range)."""
    values = [v for v in values if v is not None]
    if not values:
        return {"median": None, "min": None, "max": None, "spread": None, "runs": []}
    median = statistics.median(values)
    spread = (max(values) - min(values)) / 2 / median if median else 0.0
    return {"median": median, "min": min(values), "max": max(values), "spread": spread, "runs": values}


def verdict(name, measured, target, unit, ok, detail=""):
    """One target check: printed as a PASS/FAIL line and kept for the summary."""
    word = "PASS" if ok else "FAIL"
    text = "%s  %-58s measured %s  target %s" % (word, name, measured, target)
    if detail:
        text += "  (%s)" % detail
    print(text, flush=True)
    return {"name": name, "measured": measured, "target": target, "unit": unit, "pass": bool(ok), "detail": detail}


def machine():
    """Where the figures came from."""
    info = {
        "cpus": os.cpu_count(),
        "usable_cpus": CPUS,
        "pinning": PINNING,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
    }
    try:
        import twisted

        info["twisted"] = twisted.__version__
    except ImportError:
        pass
    try:
        lscpu = subprocess.run(["lscpu"], stdout=subprocess.PIPE, universal_newlines=True, check=False).stdout
        for line in lscpu.splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("Model name", "CPU(s)", "Thread(s) per core", "Hypervisor vendor", "CPU max MHz"):
                info[key.strip()] = value.strip()
    except OSError:
        pass
    with contextlib.suppress(OSError):
        with open("/proc/meminfo") as meminfo:
            info["memory"] = meminfo.readline().split(":")[1].strip()
    return info


def write_json(name, data):
    os.makedirs(RESULTS, exist_ok=True)
    path = os.path.join(RESULTS, name)
    with open(path, "w") as out:
        json.dump(data, out, indent=2, sort_keys=True)
        out.write("\n")
    return path


def log(message):
    print("bench: %s" % message, file=sys.stderr, flush=True)
