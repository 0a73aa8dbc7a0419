"""``python -m critpath`` is the ``critpath`` command (used to start child processes)."""

import sys

from critpath.cli import main

sys.exit(main())
