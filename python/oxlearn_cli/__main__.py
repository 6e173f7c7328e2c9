"""``python -m oxlearn_cli``: the ``oxlearn`` command."""

import sys

from oxlearn_cli import main

sys.exit(main())
