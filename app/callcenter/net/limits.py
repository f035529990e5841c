"""The limits of a server's connections, their defaults: what the protocols enforce and the options offer.

Layer: net, its declarations (no Twisted, nothing imported), so that the wiring's options read them
without loading the protocols.
"""

DEFAULT_MAX_OUTPUT_BUFFER = 16 << 20  # bytes of unsent output a client may hold
DEFAULT_MAX_CONNECTIONS = 10000
DEFAULT_AUTH_TIMEOUT = 10.0  # seconds a connection has to send the token
# Connections still to send the token, held at once (sshd's MaxStartups is the model).
DEFAULT_MAX_UNAUTHENTICATED = 100
DEFAULT_MAX_WEB_CLIENTS = 1000  # wallboard pages and event streams open at once
