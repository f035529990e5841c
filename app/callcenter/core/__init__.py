"""The pure core: operators, calls, queues, ring strategies, presence, timers and figures.

Layer: core (no I/O, no Twisted; time comes in through an injected clock). It imports nothing of
the layers above it.
"""

__all__ = [
    "bitset",
    "bus",
    "center",
    "events",
    "model",
    "queues",
    "readouts",
    "rendering",
    "routing",
    "state",
    "states",
    "stats",
    "strategies",
    "waiting",
]
