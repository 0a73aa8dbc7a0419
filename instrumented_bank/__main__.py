"""``python -m instrumented_bank``: the bank and its traffic until Ctrl-C."""

import sys

from instrumented_bank.cli import main

sys.exit(main())
