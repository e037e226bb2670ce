"""``python -m tinygrad_med`` runs the ``tgm`` command."""

import sys

from .cli import main

sys.exit(main())
