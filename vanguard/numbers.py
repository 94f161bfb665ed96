# Moved to vanguard.core.numbers (the foundation package); this alias is removed once every import has moved.
import sys

from vanguard.core import numbers as _module

sys.modules[__name__] = _module
