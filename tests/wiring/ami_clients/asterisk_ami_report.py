"""Run in asterisk-ami 0.1.7's own venv: its client's view of a server (its banner regexp, its
CRLF framing), printed as JSON: the AMI version it read from the banner, Login's and Ping's
responses, and the events of a QueueStatus list as its event listener hears them.

Usage: python asterisk_ami_report.py HOST PORT USER SECRET
"""

import json
import sys
import threading

from asterisk.ami import AMIClient, SimpleAction


def main(host, port, user, secret):
    client = AMIClient(address=host, port=int(port), timeout=10)
    events = []
    complete = threading.Event()

    def on_event(event, **kwargs):
        events.append({"name": event.name, "keys": dict(event.keys)})
        if event.name == "QueueStatusComplete":
            complete.set()

    client.add_event_listener(on_event)
    login = client.login(username=user, secret=secret).response
    ping = client.send_action(SimpleAction("Ping")).response
    status = client.send_action(SimpleAction("QueueStatus")).response
    complete.wait(10)
    client.logoff()
    client.disconnect()
    print(
        json.dumps(
            {
                "version": client._ami_version,
                "login": {"status": login.status, "keys": dict(login.keys)},
                "ping": {"status": ping.status, "keys": dict(ping.keys)},
                "status": {"status": status.status, "keys": dict(status.keys)},
                "events": events,
            },
            sort_keys=True,
        )
    )


if __name__ == "__main__":
    main(*sys.argv[1:5])
