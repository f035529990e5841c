"""callcenter: a simulated telephony call-center queue on Twisted.

The layers (core, durability, protocols, wiring) and the interfaces between them are in
docs/design.md; each module's docstring names its layer.
"""

__version__ = "1.0.0"

import warnings

# cryptography 40 (the last for Python 3.6, which the TLS support brings on CentOS 7) warns on
# every import that 3.6 support is deprecated: noise on stderr for the user, who cannot act on it.
warnings.filterwarnings("ignore", message="Python 3.6 is no longer supported")
