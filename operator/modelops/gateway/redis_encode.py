"""A batch of operations as the script's EVALSHA command, packed for the wire.

The words and their order are ``redis_script``'s wire format. What a request brings is
mostly the same from one request to the next (its client's demands and budgets, tuples the
policy caches), so their keys, words and RESP bytes are rendered once per tuple; a batch is
then a few joins. issue 19's profiles: encoding took 11k instructions a request, and hiredis
packing the command's arguments one by one about 22k a batch.
"""

from collections.abc import Sequence

from modelops.gateway.budgets import EXPIRY_GRACE, BudgetDemand
from modelops.gateway.caches import remember
from modelops.gateway.limiter import BUCKETS, Demand
from modelops.gateway.redis_script import Operation


def _bulk(text: str) -> bytes:
    """One RESP bulk string."""
    data = text.encode()
    return b"$" + str(len(data)).encode() + b"\r\n" + data + b"\r\n"


def _array(length: int) -> bytes:
    """The head of a RESP array (a command) of ``length`` bulk strings."""
    return b"*" + str(length).encode() + b"\r\n"


def pack(*words: str) -> bytes:
    """A command of a few words (``SCRIPT LOAD``), as RESP."""
    return _array(len(words)) + b"".join(_bulk(word) for word in words)


_EVALSHA = _bulk("EVALSHA")
_BUCKETS = _bulk(str(BUCKETS))


class EncodedBatch:
    """The batch's KEYS (as text, and each as a RESP bulk string) and its numbers."""

    def __init__(self, keys: list[str], packed_keys: list[bytes], numbers: str) -> None:
        self.keys = keys
        self.packed_keys = packed_keys
        self.numbers = numbers

    def command(self, sha: str) -> bytes:
        """``EVALSHA sha numkeys KEYS... buckets numbers``, as RESP."""
        heads = _HEADS.get(sha)
        if heads is None:  # one script, so one entry
            heads = remember(_HEADS, sha, {})
        count = len(self.keys)
        head = heads.get(count)
        if head is None:  # the command's words before its keys, per number of keys
            head = remember(
                heads, count, _array(count + 5) + _EVALSHA + _bulk(sha) + _bulk(str(count))
            )
        parts = [head]
        parts += self.packed_keys
        parts += (_BUCKETS, _bulk(self.numbers))
        return b"".join(parts)


def encode(ops: Sequence[Operation]) -> EncodedBatch:
    """The batch's keys and numbers (ARGV[2]): a JSON array of numbers.

    An operation's keys and words come rendered once per demands tuple
    (``_rendered_demands``): a check on Redis' clock without budgets is one cached string.
    Where something is still made per operation, an f-string of plain ``str`` and ``int``
    values builds it in one step (with a ``!r`` or a conditional in it, an f-string becomes a
    ``str.format`` call, so those are worked out first)."""
    keys: list[str] = []
    packed_keys: list[bytes] = []
    words: list[str] = []
    for op in ops:
        demands, now, answered, budgets, tokens = (
            op.demands,
            op.now,
            op.answered,
            op.budgets,
            op.tokens,
        )
        rendered = _rendered_demands(demands, op.window)
        keys += rendered.keys
        packed_keys += rendered.packed_keys
        if now is None and not budgets:
            if tokens == 0:
                words.append(rendered.check if answered else rendered.charge)
                continue
            words.append(rendered.check_head if answered else rendered.charge_head)
        else:
            flag = "1" if answered else "0"
            when = "-1" if now is None else repr(now)
            words.append(f"{flag},{len(demands)},{rendered.window_word},{when},{len(budgets)}")
        if tokens == 0:
            if rendered.plain:
                words.append(rendered.plain)
        else:
            for head, charge in rendered.parts:
                words.append(head + str(charge + tokens))
        if budgets:
            budget = _rendered_budgets(budgets)
            keys += budget.keys
            packed_keys += budget.packed_keys
            for head, charge, tail in budget.parts:
                words.append(head + str(charge + tokens) + tail)
    return EncodedBatch(keys, packed_keys, "[" + ",".join(words) + "]")


class _RenderedDemands:
    """A demands tuple's keys and words, for one window. ``check`` and ``charge``: a whole
    operation on Redis' clock without budgets or tokens added; ``*_head``: its head alone."""

    def __init__(self, demands: Sequence[Demand], window: float) -> None:
        self.demands = demands
        self.window = window
        self.window_word = repr(window)
        self.keys: list[str] = []
        self.parts: list[tuple[str, int]] = []  # per demand: its words before its charge
        for key, limit, need, charge in demands:
            self.keys.append(key)
            self.parts.append((f"{-1 if limit is None else limit},{need},", charge))
        self.packed_keys = [_bulk(key) for key in self.keys]
        self.plain = ",".join(head + str(charge) for head, charge in self.parts)
        self.check_head = f"1,{len(demands)},{self.window_word},-1,0"
        self.charge_head = f"0,{len(demands)},{self.window_word},-1,0"
        self.check = f"{self.check_head},{self.plain}" if self.plain else self.check_head
        self.charge = f"{self.charge_head},{self.plain}" if self.plain else self.charge_head


class _RenderedBudgets:
    """A budgets tuple's keys, and per budget the words before and after its charge."""

    def __init__(self, budgets: Sequence[BudgetDemand]) -> None:
        self.budgets = budgets
        self.keys: list[str] = []
        self.parts: list[tuple[str, int, str]] = []
        for key, limit, need, charge, ends, _, _ in budgets:
            self.keys.append(key)
            # The counter outlives its period by a grace (see EXPIRY_GRACE).
            expires = int(ends + EXPIRY_GRACE)
            self.parts.append((f"{-1 if limit is None else limit},{need},", charge, f",{expires}"))
        self.packed_keys = [_bulk(key) for key in self.keys]


# A request's demands and budgets come as tuples its policy hands out again and again (a
# client's admission and token counters, ``Policy.admission``; its budgets until their period
# ends, ``BudgetPlan``): rendered once per tuple, not per request. Keyed by the tuple's id,
# which the entry holds, so the id is not reused while cached.
_DEMANDS: dict[int, _RenderedDemands] = {}
# Per script SHA, per number of keys: an EVALSHA's words before its keys.
_HEADS: dict[str, dict[int, bytes]] = {}
_BUDGETS: dict[int, _RenderedBudgets] = {}


def _rendered_demands(demands: Sequence[Demand], window: float) -> _RenderedDemands:
    known = _DEMANDS.get(id(demands))
    if known is not None and known.demands is demands and known.window == window:
        return known
    rendered = _RenderedDemands(demands, window)
    if isinstance(demands, tuple):  # a list could change under the cache
        remember(_DEMANDS, id(demands), rendered)
    return rendered


def _rendered_budgets(budgets: Sequence[BudgetDemand]) -> _RenderedBudgets:
    known = _BUDGETS.get(id(budgets))
    if known is not None and known.budgets is budgets:
        return known
    rendered = _RenderedBudgets(budgets)
    if isinstance(budgets, tuple):  # a list could change under the cache
        remember(_BUDGETS, id(budgets), rendered)
    return rendered
