"""``python -m cgraph.cli``: the ``cgraph`` command, for where the script is not on PATH."""

import sys

from cgraph.cli import main

sys.exit(main())
