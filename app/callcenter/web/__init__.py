"""The wallboard (``--web``, its page under ``static/``) and the Prometheus metrics (``--metrics``).

Layer: web. It imports the core, the net layer and the interfaces, nothing above them.
"""

__all__ = ["metrics", "wallboard"]
