"""Simulation in virtual time, Erlang C/A and staffing plans.

Layer: sim. It drives the core (or a server, live) and imports nothing of the wiring but options.
"""

__all__ = ["erlang", "heapclock", "live", "planning", "simulate"]
