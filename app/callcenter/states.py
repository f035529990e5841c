"""The states an operator is in: shared by the core and the figures of ``stats``.

Layer: core (pure; no I/O, no Twisted).
"""

AVAILABLE = "available"
RINGING = "ringing"
BUSY = "busy"
