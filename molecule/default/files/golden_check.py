"""Play the golden transcript through the installed callcenter-client and compare byte for byte.

Usage: python3 golden_check.py GOLDEN_FILE [CLIENT_COMMAND...]
In the transcript, lines starting with "# " are comments, lines starting with "> " are typed on
stdin (without the "> "), and every other line is expected on stdout exactly. Without a
CLIENT_COMMAND the client on the PATH is used with its default connection (the local server);
containers/check gives one that runs the client image. Python 3.6 compatible.
"""
import difflib
import os
import shutil
import subprocess
import sys


def main():
    with open(sys.argv[1], "rb") as golden:
        lines = golden.read().decode("utf-8").splitlines()
    commands, expected = [], []
    for line in lines:
        if line.startswith("# "):
            continue
        if line.startswith("> "):
            commands.append(line[2:])
        else:
            expected.append(line)
    stdin = "".join(c + "\n" for c in commands).encode("utf-8")
    want = "".join(e + "\n" for e in expected).encode("utf-8")
    client = sys.argv[2:]
    if not client:
        path = os.environ.get("PATH", "") + ":/usr/local/bin:/usr/bin:/bin"
        found = shutil.which("callcenter-client", path=path)
        if found is None:
            raise SystemExit("callcenter-client is not on the PATH")
        client = [found]
    proc = subprocess.run(client, input=stdin, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=60)
    if proc.returncode != 0 or proc.stdout != want:
        diff = difflib.unified_diff(
            want.decode("utf-8", "replace").splitlines(True),
            proc.stdout.decode("utf-8", "replace").splitlines(True),
            "expected", "callcenter-client")
        sys.stdout.write("".join(diff))
        sys.stdout.write("exit status %d, stderr:\n%s\n"
                         % (proc.returncode, proc.stderr.decode("utf-8", "replace")))
        raise SystemExit(1)
    print("%s printed the golden transcript exactly (%d commands, %d lines)"
          % (" ".join(client), len(commands), len(expected)))


if __name__ == "__main__":
    main()
