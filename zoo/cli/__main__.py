"""`python -m zoo.cli`: the `vaezoo` command."""

import sys

from zoo.cli import main

sys.exit(main())
