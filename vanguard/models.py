# Moved to vanguard.core.events (the foundation package); this alias is removed once every import has moved.
import sys

from vanguard.core import events as _module

sys.modules[__name__] = _module
