"""``python -m reparam`` runs the command line."""

import sys

from reparam.cli import main

sys.exit(main())
