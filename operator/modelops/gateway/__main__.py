"""``python -m modelops.gateway``: the same as ``modelops gateway``."""

import sys

from modelops.gateway.app import main

sys.exit(main())
