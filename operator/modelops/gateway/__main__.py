"""``python -m modelops.gateway``: the same as ``modelops gateway``."""

import sys

from modelops.gateway.app import main

if __name__ == "__main__":  # imported (tests walk every module), it serves nothing
    sys.exit(main())
