# Moved to vanguard.core.request_context (the foundation package); this alias is removed once every import has moved.
import sys

from vanguard.core import request_context as _module

sys.modules[__name__] = _module
