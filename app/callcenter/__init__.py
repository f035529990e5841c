"""callcenter: a simulated telephony call-center queue on Twisted."""

__version__ = "1.0.0"
