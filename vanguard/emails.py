# Moved to vanguard.core.emails (the foundation package); this alias is removed once every import has moved.
import sys

from vanguard.core import emails as _module

sys.modules[__name__] = _module
