"""Place calls in every state, read the status, or hang the calls up again: what the verify
playbook needs to check that a restart (clean or after SIGKILL) keeps the calls.

Usage: python3 durable_check.py place|status|clean HOST PORT [TOKEN_FILE]
place: calls d1 to d4 and answers the first (one busy, one ringing, two queued with the default
operators A and B), then prints the status; status: prints it; clean: hangs d1 to d4 up and, with
--wrap-up, waits for the end of each wrap-up (an event), so that a place after it finds A and B
available. Events are set aside from the replies. Python 3.6 compatible (CentOS 7 test hosts).
"""
import json
import socket
import sys

CALLS = ["d1", "d2", "d3", "d4"]


def read(sock_file):
    line = sock_file.readline()
    if not line.endswith(b"\n"):
        raise SystemExit("the server closed the connection or sent half a line: %r" % (line,))
    return json.loads(line.decode("utf-8"))


def ask(sock_file, sock, request, events=None):
    """The reply to ``request``; the events that come before it are added to ``events``."""
    sock.sendall((json.dumps(request) + "\n").encode("utf-8"))
    while True:
        message = read(sock_file)
        if "event" not in message:
            return message
        if events is not None:
            events.extend(message["event"].split("\n"))


def wait_for_wrap_ups(sock_file, sock):
    """Until no operator is in wrap-up: each wrap-up's end is an event, bounded by the timeout."""
    events = []
    for _ in range(len(CALLS) + 1):
        lines = ask(sock_file, sock, {"command": "status"}, events)["response"].split("\n")
        wrapping = [line.split()[1] for line in lines if line.endswith(" in wrap-up")]
        if not wrapping:
            return
        while "Operator %s available" % wrapping[0] not in events:
            events.extend(read(sock_file)["event"].split("\n"))
    raise SystemExit("operators still in wrap-up: %s" % ", ".join(wrapping))


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
        if action == "clean":
            wait_for_wrap_ups(sock_file, sock)
        status = ask(sock_file, sock, {"command": "status"})
    print(status["response"])


if __name__ == "__main__":
    main()
