"""The shell, its console sessions and the client of the TCP server.

Layer: cli. It imports the core and the net layer, nothing above them but the wiring's options.
"""

__all__ = ["client", "console", "output", "shell"]
