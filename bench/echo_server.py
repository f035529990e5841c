"""The framework's ceiling: a bare Twisted newline-JSON echo server.

A stock ``twisted.protocols.basic.LineReceiver`` that parses each request line as JSON
and writes one JSON reply line of the product's shape, with no call center behind it.
Usage: python -m bench.echo_server PORT
"""

import json
import sys

from twisted.internet import protocol, reactor
from twisted.protocols import basic


class Echo(basic.LineReceiver):
    delimiter = b"\n"

    def lineReceived(self, line):
        request = json.loads(line)
        reply = {"response": "Call %s %s" % (request.get("id"), request.get("command"))}
        self.sendLine(json.dumps(reply).encode("ascii"))


def main():
    factory = protocol.Factory.forProtocol(Echo)
    reactor.listenTCP(int(sys.argv[1]), factory, interface="127.0.0.1")
    reactor.run()


if __name__ == "__main__":
    main()
