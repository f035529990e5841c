"""A small tmpfs to fill and free (as root): the state directory of the disk-full tests and
the chaos section, which must see a real ENOSPC."""

import os
import subprocess


class Tmpfs(object):
    """A tmpfs of ``size`` (``256k``) mounted at ``path`` (made if missing), until :meth:`unmount`."""

    def __init__(self, path: str, size: str) -> None:
        self.path = str(path)
        self.filler = os.path.join(self.path, "filler")
        os.makedirs(self.path, exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s,mode=0750" % size, "tmpfs", self.path], check=True)

    def remount(self, options: str) -> None:
        subprocess.run(["mount", "-o", "remount,%s" % options, self.path], check=True)

    def fill(self) -> None:
        """Take every free byte with a file of its own."""
        with open(self.filler, "ab") as filler:
            try:
                while True:
                    filler.write(b"\0" * 65536)
                    filler.flush()
            except OSError:
                pass

    def free(self) -> None:
        if os.path.exists(self.filler):
            os.unlink(self.filler)

    def unmount(self) -> None:
        subprocess.run(["umount", "-l", self.path], check=False)
