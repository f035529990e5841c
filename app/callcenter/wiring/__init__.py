"""The wiring: options, the services and listening ports, entry points.

Layer: wiring (the top). It builds the objects of every layer below and hands them in.
"""

__all__ = ["descriptors", "healthcheck", "options", "server", "tls_sniffing"]
