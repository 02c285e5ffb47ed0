"""``python -m torchsearch``: the ``torchsearch`` command (see :mod:`torchsearch.cli`)."""

from __future__ import annotations

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
