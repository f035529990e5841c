"""The replicated call center seen by a client (molecule/ha/verify.yml), stdlib only:

    ha_check.py TOKEN_FILE ADDRESS... roles       one server leads, the others name it
    ha_check.py TOKEN_FILE ADDRESS... place N     N calls through the leader; prints its index first
    ha_check.py TOKEN_FILE ADDRESS... served N    a server leads within 20 s and has the N calls
"""

import json
import socket
import sys
import time

PORT = 5678


def ask(address, token, request, timeout=5):
    """The reply to ``request`` after the token, or None when the server cannot be reached."""
    try:
        with socket.create_connection((address, PORT), timeout=timeout) as connection:
            stream = connection.makefile("rwb")
            for message in ({"command": "auth", "token": token}, request):
                stream.write(json.dumps(message).encode() + b"\n")
            stream.flush()
            stream.readline()  # the token's reply
            line = stream.readline()
    except OSError:
        return None
    return json.loads(line) if line else None


def main(argv):
    token_file, *addresses, command, count = argv if argv[-1].isdigit() else argv + ["0"]
    with open(token_file) as source:
        token = source.read().strip()
    count = int(count)
    calls = ["ha-%d" % number for number in range(1, count + 1)]
    if command == "roles":
        roles = [(ask(address, token, {"command": "role"}) or {}).get("response") for address in addresses]
        print("\n".join("%s: %s" % pair for pair in zip(addresses, roles)))
        leaders = [address for address, role in zip(addresses, roles) if role == "leader"]
        assert len(leaders) == 1, roles
        assert all(role.startswith("standby: the leader is ") for role in roles if role != "leader"), roles
        return
    if command == "place":
        leader = next(
            index for index, address in enumerate(addresses)
            if (ask(address, token, {"command": "role"}) or {}).get("response") == "leader"
        )
        for call_id in calls:
            reply = ask(addresses[leader], token, {"command": "call", "id": call_id})
            assert reply and "response" in reply, reply
        print(leader)
        print(ask(addresses[leader], token, {"command": "status"})["response"])
        return
    if command == "served":
        began = time.monotonic()
        while time.monotonic() - began < 20:
            for address in addresses:
                if (ask(address, token, {"command": "role"}, timeout=1) or {}).get("response") == "leader":
                    status = ask(address, token, {"command": "status"})["response"]
                    missing = [call_id for call_id in calls if call_id not in status.split()]
                    assert not missing, "not at the new leader %s: %s" % (address, missing)
                    print("%s leads after %.1f s with the %d calls" % (address, time.monotonic() - began, count))
                    return
            time.sleep(0.2)
        raise SystemExit("no server leads 20 s after the leader's host stopped")
    raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
