# Moved to vanguard.core.money (the foundation package); this alias is removed once every import has moved.
import sys

from vanguard.core import money as _module

sys.modules[__name__] = _module
