"""The users of the Asterisk Manager Interface (``--ami-users FILE``), in manager.conf's shape.

Layer: protocols, its pure half (it parses text; the wiring reads the file). One INI section a
user, as in Asterisk's ``manager.conf``::

    [general]            ; Asterisk's own settings: ignored here
    enabled = yes

    [wallboard]
    secret = s3cret
    read = agent,call,system
    write = system          ; what actions it may run (docs/ami.md lists each one's class)

``read`` is the classes of events the user may hear, ``write`` the classes of actions it may
run; the classes are Asterisk's (``agent``, ``call``, ``system``, ``originate``, ``reporting``,
... and ``all``). Asterisk's other keys (``deny``, ``permit``, ``displayconnects``...) are
accepted and ignored. A secret is never shown: not in an error, not in a ``repr``.
"""

import configparser
from typing import Dict

from callcenter.net.amiwire import parse_classes

# Sections of manager.conf that are not users.
NOT_USERS = ("general",)
MAX_SECRET = 256


class AmiUsersError(Exception):
    """A users file that cannot be used: one line saying where and what (never a secret)."""


class AmiUser(object):
    """One user: its name, its secret, and what it may read and write (class bits)."""

    __slots__ = ("name", "read", "secret", "write")

    def __init__(self, name: str, secret: str, read: int, write: int) -> None:
        self.name = name
        self.secret = secret
        self.read = read
        self.write = write

    def __repr__(self) -> str:
        return "AmiUser(%r, read=%d, write=%d)" % (self.name, self.read, self.write)


def parse_users(text: str) -> Dict[str, AmiUser]:
    """The users of a manager.conf-shaped text, by name; AmiUsersError when it is not one."""
    parser = configparser.RawConfigParser(
        strict=False,  # manager.conf may repeat a key (Asterisk takes the last)
        comment_prefixes=(";", "#"),
        inline_comment_prefixes=(";",),
        default_section="\0none",
        interpolation=None,
    )
    try:
        parser.read_string(text)
    except configparser.Error as error:
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise AmiUsersError(first[:200]) from None
    users: Dict[str, AmiUser] = {}
    for section in parser.sections():
        if section.lower() in NOT_USERS:
            continue
        name = section.strip()
        if not name or not name.isprintable():
            raise AmiUsersError("a user name must be printable characters, not %r" % (name[:80],))
        values = parser[section]
        secret = values.get("secret", "").strip()
        if not secret:
            raise AmiUsersError("user %s has no secret" % (name,))
        if len(secret) > MAX_SECRET or not secret.isprintable():
            raise AmiUsersError("the secret of user %s must be 1 to %d printable characters" % (name, MAX_SECRET))
        users[name] = AmiUser(
            name, secret, parse_classes(values.get("read", "") or ""), parse_classes(values.get("write", "") or "")
        )
    if not users:
        raise AmiUsersError("no user: give each one a [name] section with a secret")
    return users
