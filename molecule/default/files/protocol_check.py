"""Check that a call center server answers its wire protocol (not merely accepts connections).

Usage: python3 protocol_check.py HOST PORT [TOKEN_FILE]
Sends {"command": "status"} and expects one JSON line with "response"; sends a line that is not
JSON and expects one JSON line with "error". With TOKEN_FILE (the server wants a token): first a
connection without the token must get {"error": "authentication required"}, then the checks run
on a connection that sent the token. Python 3.6 compatible (CentOS 7 test hosts).
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
    token_file = sys.argv[3] if len(sys.argv) > 3 else None
    if token_file:
        sock = socket.create_connection((host, port), timeout=5)
        with sock, sock.makefile("rb") as sock_file:
            refused = round_trip(sock_file, sock, b'{"command": "status"}\n')
        if refused != {"error": "authentication required"}:
            raise SystemExit("status without the token got %r" % (refused,))
        print("without the token: %s" % refused["error"])
    sock = socket.create_connection((host, port), timeout=5)
    with sock, sock.makefile("rb") as sock_file:
        if token_file:
            with open(token_file) as token:
                auth = json.dumps({"command": "auth", "token": token.read().strip()})
            authenticated = round_trip(sock_file, sock, auth.encode("utf-8") + b"\n")
            if authenticated != {"response": "authenticated"}:
                raise SystemExit("the token got %r" % (authenticated,))
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
