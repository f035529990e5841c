"""The call center's benchmark suite: ``python -m bench`` (or ``--quick``); see docs/performance.md."""
