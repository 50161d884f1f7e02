"""``python -m nativeffi.bench``: see nativeffi.bench."""
import sys

from . import main

sys.exit(main())
