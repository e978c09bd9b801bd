"""The Lua script that runs a batch of sliding-window operations in Redis, and its wire format.

The script does in Redis what ``limiter.SlidingWindows.acquire`` does in memory (same
buckets, same arithmetic), so the two backends refuse the same requests. It runs the
operations of a batch in the order given, each exactly as it would run alone: a check and
its charge are atomic across replicas (two gateways cannot both take the last unit), and a
charge issued before a check is counted by it. Time comes from Redis (``TIME``, once per
batch) so replicas with skewed clocks still agree on which buckets are in the window.

Wire format. KEYS: every operation's keys, one operation after the other. ARGV[1]: buckets
per window. ARGV[2]: all numbers of the batch as one JSON array (one argument, not a dozen
per request: encoding arguments one by one was most of the client's cost; and Redis' own
``cjson`` reads it in C, where splitting a string of words and ``tonumber`` on each took a
fifth of the script's time, bench/redis_script.py). Per operation: its kind (1: check,
answered; 0: charge only, never refuses, not answered), its number of keys, window seconds,
the time (-1 for Redis' clock; tests pass one to compare the script with the in-memory
limiter), its number of budget keys, then per window key:
limit (-1: never refuse), need, charge; then per budget key (``budgets``: a plain counter per
calendar period, after the window keys in KEYS): limit, need, charge, and when it expires
(seconds since the epoch). Reply, flat, per check: allowed, then per window key used, retry
and reset (whole microseconds, rounded: a Lua number comes back truncated to an integer,
and an integer is read for a few instructions where parsing a float's string cost about 600),
then per budget key used and refused (1 or 0; the gateway knows when the period ends).

A charge-only operation just adds to the current bucket: it does not read or prune the
counter, which changes no verdict (every check prunes before it counts).
"""

from collections.abc import Sequence
from typing import Any, Final

from modelops.gateway.budgets import BudgetDemand, judge, tightest
from modelops.gateway.limiter import Demand, Outcome, Verdict

ACQUIRE_LUA = """
local buckets = tonumber(ARGV[1])
local v = cjson.decode(ARGV[2])

-- A counter is a hash: per bucket, its index and its units, as the gateways before this
-- summary kept it; and beside them, under a name no bucket has, a summary packed as five
-- numbers: the units in the window when it was made, the bound and the current bucket it was
-- made for, that bucket's units then, and the newest bucket (-1: none). Charges only add to
-- the current bucket, as before, so a check reads the summary and the current bucket (one
-- HMGET, however many buckets the counter holds) and counts what that bucket gained since.
-- Every bucket is read (HGETALL: Redis spent 3.4x the time on a batch whose counters held a
-- whole window, bench/redis_script.py) once per bucket width, when the current bucket
-- changes, and the summary made again.
-- Gateways from before the summary (a rolling upgrade) share the counters: their charges are
-- counted as anyone's, and their checks read the summary's name as a bucket out of the
-- window and drop it (it is made again at the next check here).
local SUMMARY = '-1'
local PACKED = '<ddddd'

-- Units in the window and the newest bucket's index (nil: none), from every bucket; buckets
-- out of the window dropped, and the summary written.
local function rebuilt(key, lowest, index)
  local flat = redis.call('HGETALL', key)
  local used, held, newest = 0, 0, nil
  local stale = {}
  local summary = nil
  for j = 1, #flat, 2 do
    local b = tonumber(flat[j])
    if b >= lowest then
      local units = tonumber(flat[j + 1])
      used = used + units
      if newest == nil or b > newest then
        newest = b
      end
      if b == index then
        held = units
      end
    elseif b >= 0 then
      stale[#stale + 1] = flat[j]
    else -- the summary: written again below, or dropped with the last bucket
      summary = flat[j]
    end
  end
  if newest == nil and summary ~= nil then
    stale[#stale + 1] = summary
  end
  if #stale > 0 then
    redis.call('HDEL', key, unpack(stale))
  end
  if newest ~= nil then
    redis.call('HSET', key, SUMMARY, struct.pack(PACKED, used, lowest, index, held, newest))
  end
  return used, newest
end

-- The same two, from the summary when it was made for this bound and bucket.
local function load(key, lowest, index, field)
  local m = redis.call('HMGET', key, SUMMARY, field)
  local packed = m[1]
  if not packed or #packed ~= 40 then
    return rebuilt(key, lowest, index)
  end
  local used, low, at, held, newest = struct.unpack(PACKED, packed)
  if low ~= lowest or at ~= index then
    return rebuilt(key, lowest, index)
  end
  if m[2] then
    return used + tonumber(m[2]) - held, index
  end
  if newest < 0 then
    return used, nil
  end
  return used, newest
end

-- Seconds until the need fits (0: now) and until all usage is gone.
local function judge(key, used, newest, limit, need, now, window, width, lowest)
  local reset = 0
  if newest ~= nil then
    reset = math.max(0, (newest + 1) * width + window - now)
  end
  if limit < 0 then
    return 0, reset
  end
  local excess = used + need - limit
  if excess <= 0 then
    return 0, reset
  end
  if need > limit then
    return window, reset
  end
  -- Only a refusal reads the buckets, oldest first: when enough of them will have left the
  -- window for the need to fit.
  local flat = redis.call('HGETALL', key)
  local order = {}
  local counts = {}
  for j = 1, #flat, 2 do
    local b = tonumber(flat[j])
    if b >= lowest then
      order[#order + 1] = b
      counts[b] = tonumber(flat[j + 1])
    end
  end
  table.sort(order)
  for _, b in ipairs(order) do
    excess = excess - counts[b]
    if excess <= 0 then
      return math.max((b + 1) * width + window - now, width / 1000), reset
    end
  end
  return window, reset
end

-- One budget counter: used units, and whether the need is refused.
local function spent(key, limit, need)
  local used = tonumber(redis.call('GET', key) or '0')
  if limit >= 0 and used + need > limit then
    return used, 1
  end
  return used, 0
end

local clock = nil
-- A bucket's field name per bucket index: made once per batch, not once per operation.
local fields = {}
local out = {}
local k = 0
local a = 1
while a <= #v do
  local answered = v[a] == 1
  local n = v[a + 1]
  local window = v[a + 2]
  local now = v[a + 3]
  local m = v[a + 4]
  a = a + 5
  local b = a + n * 3
  if now < 0 then
    if clock == nil then
      local t = redis.call('TIME')
      clock = tonumber(t[1]) + tonumber(t[2]) / 1000000
    end
    now = clock
  end
  local width = window / buckets
  local index = math.floor(now / width)
  local field = fields[index]
  if field == nil then
    field = tostring(index)
    fields[index] = field
  end
  local allowed = 1
  if answered then
    local lowest = math.floor((now - window) / width)
    local head = #out + 1
    out[head] = 1
    for i = 1, n do
      local p = a + (i - 1) * 3
      local key = KEYS[k + i]
      local used, newest = load(key, lowest, index, field)
      local retry, reset = judge(key, used, newest, v[p], v[p + 1], now, window, width, lowest)
      if retry > 0 then
        allowed = 0
      end
      out[#out + 1] = used
      out[#out + 1] = math.floor(retry * 1000000 + 0.5)
      out[#out + 1] = math.floor(reset * 1000000 + 0.5)
    end
    for i = 1, m do
      local p = b + (i - 1) * 4
      local used, refused = spent(KEYS[k + n + i], v[p], v[p + 1])
      if refused == 1 then
        allowed = 0
      end
      out[#out + 1] = used
      out[#out + 1] = refused
    end
    out[head] = allowed
  end
  if allowed == 1 then
    local ttl = math.ceil((window + width) * 1000)
    for i = 1, n do
      local charge = v[a + 2 + (i - 1) * 3]
      -- Only a bucket's first charge sets the counter's expiry: made at a time in that
      -- bucket, it outlives the bucket's stay in the window.
      if charge > 0 and redis.call('HINCRBY', KEYS[k + i], field, charge) == charge then
        redis.call('PEXPIRE', KEYS[k + i], ttl)
      end
    end
    for i = 1, m do
      local p = b + (i - 1) * 4
      local charge = v[p + 2]
      -- A budget's key is its period's: its first charge sets when it expires, for good.
      if charge > 0 and redis.call('INCRBY', KEYS[k + n + i], charge) == charge then
        redis.call('EXPIREAT', KEYS[k + n + i], v[p + 3])
      end
    end
  end
  k = k + n + m
  a = b + m * 4
end
return out
"""

# What a charge-only operation answers: it never refuses and reports nothing.
CHARGED = Outcome(True, ())


class Operation:
    """One check or charge of a batch. A plain class made once or twice a request: compiled,
    a native object, where a NamedTuple's constructor went through Python's generic calls."""

    __slots__ = ("answered", "budgets", "demands", "now", "tokens", "window")

    def __init__(  # noqa: PLR0917 - the fields, in the order they were a tuple's
        self,
        demands: Sequence[Demand],
        window: float,
        now: float | None = None,
        answered: bool = True,  # False: charge only (nothing checked, nothing comes back)
        budgets: Sequence[BudgetDemand] = (),
        tokens: int = 0,  # added to each demand's and budget's charge (``Backend.charge``)
    ) -> None:
        self.demands: Final = demands
        self.window: Final = window
        self.now: Final = now
        self.answered: Final = answered
        self.budgets: Final = budgets
        self.tokens: Final = tokens

    def __repr__(self) -> str:
        return (
            f"Operation(demands={self.demands!r}, window={self.window!r}, now={self.now!r},"
            f" answered={self.answered!r}, budgets={self.budgets!r}, tokens={self.tokens!r})"
        )


def decode(ops: Sequence[Operation], reply: list[Any], wall: float) -> list[Outcome]:
    """One outcome per operation; ValueError when the reply does not fit the batch (a
    TypeError where a value is not of its kind: an integer read as ``int`` is checked, not
    converted, which compiled costs a few instructions where ``int(...)`` cost hundreds).

    ``wall``: seconds since the epoch, for how long a spent budget's period still runs.
    """
    outcomes = []
    at = 0
    for op in ops:
        if not op.answered:
            outcomes.append(CHARGED)
            continue
        verdict: int = reply[at]
        allowed = verdict == 1
        verdicts = []
        for key, limit, _, charge in op.demands:
            used: int = reply[at + 1]
            retry_us: int = reply[at + 2]
            reset_us: int = reply[at + 3]
            verdicts.append(
                Verdict(
                    key,
                    limit,
                    used,
                    retry_us / 1_000_000,
                    reset_us / 1_000_000,
                    charge if allowed else 0,
                )
            )
            at += 3
        budgets = op.budgets
        if budgets:
            spent: list[int] = [reply[at + 1 + 2 * i] for i in range(len(budgets))]
            at += 2 * len(budgets)
            if not allowed:
                verdicts += [judge(b, n, wall) for b, n in zip(budgets, spent, strict=True)]
            elif (chosen := tightest(budgets, spent)) is not None:
                # An admitted request carries its tightest budget only, as in memory.
                verdicts.append(judge(budgets[chosen], spent[chosen], wall, charged=True))
        at += 1
        outcomes.append(Outcome(allowed, tuple(verdicts)))
    if at != len(reply):
        raise ValueError(f"rate-limit script answered {len(reply)} values, expected {at}")
    return outcomes
