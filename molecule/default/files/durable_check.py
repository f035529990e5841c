"""Place calls in every state, read the status, or hang the calls up again: what the verify
playbook needs to check that a restart (clean or after SIGKILL) keeps the calls.

Usage: python3 durable_check.py place|status|clean HOST PORT [TOKEN_FILE]
place: calls d1 to d4 and answers the first (one busy, one ringing, two queued with the default
operators A and B), then prints the status; status: prints it; clean: hangs d1 to d4 up.
Python 3.6 compatible (CentOS 7 test hosts).
"""
import json
import socket
import sys

CALLS = ["d1", "d2", "d3", "d4"]


def ask(sock_file, sock, request):
    sock.sendall((json.dumps(request) + "\n").encode("utf-8"))
    reply = sock_file.readline()
    if not reply.endswith(b"\n"):
        raise SystemExit("no complete reply to %r: %r" % (request, reply))
    return json.loads(reply.decode("utf-8"))


def main():
    action, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    token_file = sys.argv[4] if len(sys.argv) > 4 else None
    sock = socket.create_connection((host, port), timeout=10)
    with sock, sock.makefile("rb") as sock_file:
        if token_file:
            with open(token_file) as token:
                reply = ask(sock_file, sock, {"command": "auth", "token": token.read().strip()})
            if reply != {"response": "authenticated"}:
                raise SystemExit("the token was refused: %r" % (reply,))
        if action == "place":
            requests = [{"command": "call", "id": CALLS[0]}, {"command": "call", "id": CALLS[1]}]
            requests.append({"command": "answer", "id": "A"})
            requests += [{"command": "call", "id": call} for call in CALLS[2:]]
        elif action == "clean":
            requests = [{"command": "hangup", "id": call} for call in CALLS]
        else:
            requests = []
        for request in requests:
            reply = ask(sock_file, sock, request)
            if action == "place" and "response" not in reply:
                raise SystemExit("%r got %r" % (request, reply))
        status = ask(sock_file, sock, {"command": "status"})
    print(status["response"])


if __name__ == "__main__":
    main()
