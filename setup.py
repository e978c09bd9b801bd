"""Only for the compiled build; everything else about the package is in pyproject.toml.

With ``MODELOPS_COMPILE=1`` the gateway's modules are compiled to C extensions by mypyc (part of
mypy, which already checks them with ``--strict``): the gateway runs in front of every model
request, and compiled it needs about 40% fewer instructions per request (issue 19,
``bench/gateway_instructions.py``). The image is built this way (Dockerfile), and so is the
tree ``make test`` and the gateway benchmarks run (hack/compile-gateway.sh). Without it, the
package is plain Python, as an editable install for development is.

One rule for the compiled code, checked by tests/unit/gateway/test_compiled.py: no ``await``
inside an ``except`` or ``finally`` block. mypyc's coroutines leave the handled exception set
while they wait there, and a later ``finally`` elsewhere on the event loop raised it again (a
forwarded request's fallback did, here); a failure is kept and dealt with after the block.

The build needs what the Dockerfile's build stage has: mypy beside the package's dependencies
(``pip wheel --no-build-isolation``, so that mypy sees their types), a C compiler and Python's
headers.
"""

import os
from pathlib import Path

from setuptools import setup

# Interpreted even in the compiled build: the command line, read once at start.
INTERPRETED = {"__init__.py", "__main__.py", "app.py"}


def compiled_modules() -> list[str]:
    gateway = Path("operator", "modelops", "gateway")
    return sorted(str(p) for p in gateway.glob("*.py") if p.name not in INTERPRETED)


def extensions() -> list[object]:
    if os.environ.get("MODELOPS_COMPILE") != "1":
        return []
    from mypyc.build import mypycify  # noqa: PLC0415  # only the compiled build needs mypy

    return list(mypycify(compiled_modules(), opt_level="3"))


setup(ext_modules=extensions())
