"""``twistd callcenter``: the call center server as a twistd service (layer: wiring)."""

from twisted.application.service import ServiceMaker

callcenter = ServiceMaker(
    "callcenter",
    "callcenter.wiring.server",
    "A simulated telephony call-center queue over TCP (newline-delimited JSON).",
    "callcenter",
)
