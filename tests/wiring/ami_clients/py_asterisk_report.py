"""Run in py-Asterisk 0.6.0's own venv (not the project's): what the library QPanel polls with
reports of a server's queues, printed as JSON. It polls as QPanel does: a new connection,
Login without Events, QueueStatus, then close (its Logoff).

Usage: python py_asterisk_report.py HOST PORT USER SECRET
"""

import json
import sys

from Asterisk.Manager import Manager


def plain(value):
    """Its report as JSON: dicts keyed by strings (it keys entries by channel objects)."""
    if isinstance(value, dict):
        return {str(key): plain(item) for key, item in value.items()}
    return value if isinstance(value, (str, int, float, list, type(None))) else str(value)


def main(host, port, user, secret):
    manager = Manager((host, int(port)), user, secret, listen_events=False)
    try:
        queues = manager.QueueStatus()
    finally:
        manager.close()  # its Logoff, answered Goodbye
    print(json.dumps(plain(queues), sort_keys=True))


if __name__ == "__main__":
    main(*sys.argv[1:5])
