"""Check that a call center server answers its wire protocol (not merely accepts connections).

Usage: python3 protocol_check.py HOST PORT
Sends {"command": "status"} and expects one JSON line with "response"; sends a line that is not
JSON and expects one JSON line with "error". Python 3.6 compatible (CentOS 7 test hosts).
"""
import json
import socket
import sys


def round_trip(sock_file, sock, line):
    sock.sendall(line)
    reply = sock_file.readline()
    if not reply.endswith(b"\n"):
        raise SystemExit("no complete reply to %r: %r" % (line, reply))
    return json.loads(reply.decode("utf-8"))


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    sock = socket.create_connection((host, port), timeout=5)
    with sock, sock.makefile("rb") as sock_file:
        status = round_trip(sock_file, sock, b'{"command": "status"}\n')
        if not isinstance(status, dict) or "response" not in status:
            raise SystemExit("status got %r, expected a response" % (status,))
        bad = round_trip(sock_file, sock, b"this is not json\n")
        if not isinstance(bad, dict) or "error" not in bad:
            raise SystemExit("bad input got %r, expected an error" % (bad,))
    print("status: %s" % status["response"])
    print("bad input: %s" % bad["error"])


if __name__ == "__main__":
    main()
