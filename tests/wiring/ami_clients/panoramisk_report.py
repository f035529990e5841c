"""Run in panoramisk 1.4's own venv: what the asyncio client reports of a server, printed as
JSON lines: Login, QueueStatus as a list, then every event it hears for SECONDS seconds (or
until an event named STOP has come).

Usage: python panoramisk_report.py HOST PORT USER SECRET SECONDS [STOP]
"""

import asyncio
import json
import sys

from panoramisk import Manager


def main(host, port, user, secret, seconds, stop=None):
    loop = asyncio.get_event_loop()
    manager = Manager(loop=loop, host=host, port=int(port), username=user, secret=secret, ping_delay=1)
    heard = []
    done = asyncio.Event(loop=loop) if sys.version_info < (3, 8) else asyncio.Event()

    @manager.register_event("*")
    def on_event(manager, message):
        heard.append(dict(message))
        if stop and message.get("Event") == stop:
            done.set()

    async def run():
        await manager.connect()
        status = await manager.send_action({"Action": "QueueStatus"})
        print(json.dumps({"queuestatus": [dict(message) for message in status]}, sort_keys=True), flush=True)
        try:
            await asyncio.wait_for(done.wait(), float(seconds))
        except asyncio.TimeoutError:
            pass
        print(json.dumps({"events": heard}, sort_keys=True), flush=True)
        manager.close()

    loop.run_until_complete(run())


if __name__ == "__main__":
    main(*sys.argv[1:7])
