"""The states an operator is in: shared by the core and the figures of ``stats``.

Layer: core (pure; no I/O, no Twisted).
"""

AVAILABLE = "available"
RINGING = "ringing"
BUSY = "busy"
# Presence (docs/routing.md): an operator in one of these holds no call and gets none.
PAUSED = "paused"
LOGGED_OUT = "logged out"
WRAP_UP = "wrap-up"
