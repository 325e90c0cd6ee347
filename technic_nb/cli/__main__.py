"""``python -m technic_nb.cli``: the ``technic-nb`` command."""

import sys

from technic_nb.cli.command import main

sys.exit(main())
