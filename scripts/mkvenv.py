"""Create a virtualenv with the project and its requirements installed, using only the stdlib.

Usage: python3 scripts/mkvenv.py VENV [REQUIREMENTS_FILE ...]

Runs under the interpreter the venv is for (CentOS 7's Python 3.6 included) and copes
with what a fresh machine lacks:
- Debian's python3 without python3-venv has no ensurepip: the venv is made without pip
  and pip is bootstrapped from its wheel, fetched from the package index.
- Python 3.6's own pip (9 on CentOS 7) knows no pyproject.toml and ignores yanked
  releases: pip is upgraded to 21.3.1, the last for 3.6, and the runtime is pinned with
  requirements/centos7.txt as a constraints file.
The project itself is installed as a regular (non-editable) package, so what runs is what
ships; run again after changing the code to reinstall it.
"""

import json
import os
import subprocess
import sys
import tempfile
import urllib.request
import venv

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PY36 = sys.version_info < (3, 7)
PIP_FOR_PY36 = "21.3.1"


def log(message):
    sys.stderr.write("mkvenv: %s\n" % message)
    sys.stderr.flush()


def venv_python(path):
    return os.path.join(path, "bin", "python")


def bootstrap_pip(python):
    """Install pip into a venv that has none, from the pip wheel on the package index."""
    version = PIP_FOR_PY36 + "/" if PY36 else ""
    json_url = "https://pypi.org/pypi/pip/%sjson" % version
    with urllib.request.urlopen(json_url, timeout=60) as response:
        release = json.load(response)
    wheel = next(f for f in release["urls"] if f["filename"].endswith(".whl"))
    folder = tempfile.mkdtemp(prefix="pip-bootstrap-")
    wheel_path = os.path.join(folder, wheel["filename"])
    log("fetching %s" % wheel["filename"])
    urllib.request.urlretrieve(wheel["url"], wheel_path)
    # A pip wheel runs as a zip application: it installs itself.
    subprocess.check_call([python, os.path.join(wheel_path, "pip"), "install", "--quiet", wheel_path])


def main(argv):
    if len(argv) < 2:
        sys.exit(__doc__)
    target = os.path.abspath(argv[1])
    requirements = argv[2:]
    try:
        import ensurepip  # noqa: F401

        has_ensurepip = True
    except ImportError:
        has_ensurepip = False
    log("creating %s with Python %s" % (target, sys.version.split()[0]))
    venv.EnvBuilder(clear=True, with_pip=has_ensurepip).create(target)
    python = venv_python(target)
    if not has_ensurepip:
        bootstrap_pip(python)
    pip = [python, "-m", "pip", "--disable-pip-version-check", "--quiet"]
    subprocess.check_call([*pip, "install", "--upgrade", "pip==%s" % PIP_FOR_PY36 if PY36 else "pip"])
    install = [*pip, "install"]
    if PY36:
        install += ["--constraint", os.path.join(ROOT, "requirements", "centos7.txt")]
    for requirement in requirements:
        install += ["--requirement", requirement]
    subprocess.check_call([*install, ROOT])
    log("ready: %s" % target)


if __name__ == "__main__":
    main(sys.argv)
