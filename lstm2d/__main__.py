"""``python -m lstm2d``: the same command line as the ``lstm2d`` script."""

import sys

from lstm2d.cli import main

sys.exit(main())
