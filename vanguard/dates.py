# Moved to vanguard.core.dates (the foundation package); this alias is removed once every import has moved.
import sys

from vanguard.core import dates as _module

sys.modules[__name__] = _module
