"""Codecs and protocols: the wire's JSON, framing, the server's line protocol.

Layer: net. It imports the core, the stores' interfaces and Twisted, nothing above them.
"""

__all__ = [
    "ami",
    "amiqueue",
    "amiusers",
    "amiwire",
    "lines",
    "protocol",
    "ratelimit",
    "scanner",
    "twisted_internals",
    "wire",
]
