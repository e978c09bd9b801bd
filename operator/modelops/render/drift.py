"""Does a live object already hold everything we would apply?

Server-side apply of an unchanged manifest changes nothing, but it is still a write request.
Comparing first keeps the steady state at zero writes. The live object has more than we set
(defaults, status, other managers' fields), so the test is "desired is contained in live".
"""

from typing import Any


def _same_scalar(desired: Any, live: Any) -> bool:
    if desired == live:
        return True
    # Quantities and int-or-string fields come back as strings ("1" for 1).
    return (
        isinstance(desired, int | float) and not isinstance(desired, bool) and str(desired) == live
    )


def contained(desired: Any, live: Any) -> bool:
    """True when every field of ``desired`` is in ``live`` with the same value.

    Lists must match element by element (same length): that is how apply replaces them.
    """
    if isinstance(desired, dict):
        return isinstance(live, dict) and all(
            key in live and contained(value, live[key]) for key, value in desired.items()
        )
    if isinstance(desired, list):
        return (
            isinstance(live, list)
            and len(desired) == len(live)
            and all(contained(d, item) for d, item in zip(desired, live, strict=True))
        )
    return _same_scalar(desired, live)


def in_sync(desired: dict[str, Any], live: dict[str, Any]) -> bool:
    """The parts of a manifest that apply sets: labels, annotations, owner refs, spec/data."""
    meta_keys = ("labels", "annotations", "ownerReferences")
    desired_meta = {k: v for k, v in desired["metadata"].items() if k in meta_keys}
    body = {k: v for k, v in desired.items() if k not in ("apiVersion", "kind", "metadata")}
    return contained(desired_meta, live.get("metadata", {})) and contained(body, live)
