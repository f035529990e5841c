"""callcenter: a simulated telephony call-center queue on Twisted.

Layer: none (the package). Its layers are its folders, bottom to top: core, store, net, cli, web,
sim, wiring; interfaces.py declares the seams between them. docs/design.md describes them; each
module's docstring names its layer.
"""

__version__ = "1.0.0"

import warnings

# cryptography 40 (the last for Python 3.6, which the TLS support brings on CentOS 7) warns on
# every import that 3.6 support is deprecated: noise on stderr for the user, who cannot act on it.
warnings.filterwarnings("ignore", message="Python 3.6 is no longer supported")
