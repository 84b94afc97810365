"""``python -m gitexp`` is the ``gitexp`` command."""

import sys

from gitexp.cli import main

sys.exit(main())
