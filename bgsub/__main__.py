"""``python -m bgsub``: the ``bgsub`` command (:mod:`bgsub.cli`)."""

import sys

from bgsub.cli import main

if __name__ == "__main__":
    sys.exit(main())
