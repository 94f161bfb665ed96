# Moved to vanguard.core.errors (the foundation package); this alias is removed once every import has moved.
import sys

from vanguard.core import errors as _module

sys.modules[__name__] = _module
