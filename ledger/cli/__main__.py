"""``python -m ledger.cli``: the ``eduledger`` command."""

import sys

from ledger.cli.main import main

sys.exit(main())
