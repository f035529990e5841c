"""What the server tells those who watch its call center (the wallboard) besides its clients."""

from typing import List

from zope.interface import Interface


class ICallCenterObserver(Interface):
    """Hears every line the server's call center prints that may come with a change of
    state: the reply lines of each command (not of the ``status`` and ``stats`` queries)
    and the lines of each ring-timeout event, in the order they happened, as they happen
    (before a journal has made them durable)."""

    def lines_printed(lines: List[str]) -> None:  # noqa: N805 (zope.interface methods have no self)
        """``lines`` were printed; the call center's state is already the one after them."""
