# Moved to vanguard.core.transitions (the foundation package); this alias is removed once every import has moved.
import sys

from vanguard.core import transitions as _module

sys.modules[__name__] = _module
