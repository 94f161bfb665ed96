# Moved to vanguard.core.pagination (the foundation package); this alias is removed once every import has moved.
import sys

from vanguard.core import pagination as _module

sys.modules[__name__] = _module
