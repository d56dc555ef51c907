"""``python -m nnarray``: the same as the ``nnarray`` command."""

import sys

from .cli import main

sys.exit(main())
