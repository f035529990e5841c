"""The options every program shares (cli/arguments.py), as a user at a terminal meets them."""

import os
import subprocess
import sys

import pytest

from support import TIMEOUT

PROGRAMS = {
    "callcenter": "callcenter.wiring.shell",
    "callcenter-server": "callcenter.wiring.server",
    "callcenter-client": "callcenter.cli.client",
}


@pytest.mark.parametrize("program", sorted(PROGRAMS))
@pytest.mark.parametrize("option", ["--help", "--version"])
def test_help_into_a_pipe_already_closed_ends_without_a_traceback(program, option):
    # `callcenter-server --help | head -1`: head has gone by the time the help is written.
    read_end, write_end = os.pipe()
    os.close(read_end)
    script = "import sys; from %s import main; sys.argv[0] = %r; main()" % (PROGRAMS[program], program)
    try:
        done = subprocess.run(
            [sys.executable, "-c", script, option], stdout=write_end, stderr=subprocess.PIPE, timeout=TIMEOUT
        )
    finally:
        os.close(write_end)
    assert done.stderr == b"" and done.returncode == 1
