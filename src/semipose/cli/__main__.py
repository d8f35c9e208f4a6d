"""``python -m semipose.cli`` (what ``torchrun -m semipose.cli`` runs)."""

import sys

from . import main

sys.exit(main())
