# Moved to vanguard.core.erasure (the foundation package); this alias is removed once every import has moved.
import sys

from vanguard.core import erasure as _module

sys.modules[__name__] = _module
