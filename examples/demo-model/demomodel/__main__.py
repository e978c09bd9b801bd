"""``python -m demomodel``: the server (see ``demomodel.server`` for its settings)."""

import sys

from demomodel.server import main

sys.exit(main())
