# Moved to vanguard.accounts.system; this alias is removed once every import has moved.
import sys

from vanguard.accounts import system as _module

sys.modules[__name__] = _module
