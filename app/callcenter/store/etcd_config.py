"""What configures the replicated store: etcd's endpoints, the credentials shown to it, the defaults.

Layer: store (pure: no Twisted, no I/O), so that reading the options loads nothing of the
client (:mod:`callcenter.store.etcd`) or of the replicated center (:mod:`callcenter.store.replicated`).
"""

from typing import List, Optional

DEFAULT_PREFIX = "/callcenter/"
DEFAULT_LEASE_TTL = 3  # seconds: etcd's least with its default election timeout is 2


class EtcdCredentials(object):
    """What a client shows etcd: user and password (etcd's auth), and for TLS the CA's
    certificate and a client certificate and key, each PEM bytes or None."""

    __slots__ = ("ca", "cert", "key", "password", "user")

    def __init__(
        self,
        user: Optional[str] = None,
        password: Optional[str] = None,
        ca: Optional[bytes] = None,
        cert: Optional[bytes] = None,
        key: Optional[bytes] = None,
    ) -> None:
        self.user = user
        self.password = password
        self.ca = ca
        self.cert = cert
        self.key = key


def check_endpoints(text: str) -> List[str]:
    """``http(s)://host:port`` URLs, comma separated; ValueError saying which one is wrong."""
    endpoints = [part.strip().rstrip("/") for part in text.split(",") if part.strip()]
    if not endpoints:
        raise ValueError("no etcd endpoint in %r" % text[:80])
    for endpoint in endpoints:
        scheme, _, rest = endpoint.partition("://")
        host, _, port = rest.rpartition(":")
        if scheme not in ("http", "https") or not host or not port.isdigit() or "/" in rest:
            raise ValueError("%r is not an etcd endpoint like http://127.0.0.1:2379" % endpoint[:80])
    return endpoints
