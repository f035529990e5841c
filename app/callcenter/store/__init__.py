"""The stores around the core: the journal's files and the durable call center over them.

Layer: store. It imports the core and the interfaces, nothing above them.
"""

__all__ = ["durable", "journal"]
