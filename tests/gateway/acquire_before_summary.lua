-- The rate-limit script of the gateways before counters kept a summary (modelops 65179dd,
-- redis_script.ACQUIRE_LUA): tests/gateway/test_redis_upgrade.py runs it beside today's on the
-- same counters, as a rolling upgrade does. Same wire format.
local buckets = tonumber(ARGV[1])
local v = {}
for word in string.gmatch(ARGV[2], '%S+') do
  v[#v + 1] = word
end

-- One counter: used units, seconds until the need fits (0: now) and until all usage is gone.
local function judge(key, limit, need, now, window, width, lowest)
  local flat = redis.call('HGETALL', key)
  local used = 0
  local newest = nil
  local stale = nil
  for j = 1, #flat, 2 do
    local b = tonumber(flat[j])
    if b < lowest then
      stale = stale or {}
      stale[#stale + 1] = flat[j]
    else
      used = used + tonumber(flat[j + 1])
      if newest == nil or b > newest then
        newest = b
      end
    end
  end
  if stale ~= nil then
    redis.call('HDEL', key, unpack(stale))
  end
  local reset = 0
  if newest ~= nil then
    reset = math.max(0, (newest + 1) * width + window - now)
  end
  if limit < 0 then
    return used, 0, reset
  end
  local excess = used + need - limit
  if excess <= 0 then
    return used, 0, reset
  end
  if need > limit then
    return used, window, reset
  end
  -- Only a refusal needs the buckets oldest first: when enough of them will have left the
  -- window for the need to fit.
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
      return used, math.max((b + 1) * width + window - now, width / 1000), reset
    end
  end
  return used, window, reset
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
local out = {}
local k = 0
local a = 1
while a <= #v do
  local answered = v[a] == '1'
  local n = tonumber(v[a + 1])
  local window = tonumber(v[a + 2])
  local now = tonumber(v[a + 3])
  local m = tonumber(v[a + 4])
  a = a + 5
  local b = a + n * 3
  if now == nil then
    if clock == nil then
      local t = redis.call('TIME')
      clock = tonumber(t[1]) + tonumber(t[2]) / 1000000
    end
    now = clock
  end
  local width = window / buckets
  local allowed = 1
  if answered then
    local lowest = math.floor((now - window) / width)
    local head = #out + 1
    out[head] = 1
    for i = 1, n do
      local p = a + (i - 1) * 3
      local used, retry, reset = judge(
        KEYS[k + i], tonumber(v[p]), tonumber(v[p + 1]), now, window, width, lowest)
      if retry > 0 then
        allowed = 0
      end
      out[#out + 1] = used
      out[#out + 1] = math.floor(retry * 1000000 + 0.5)
      out[#out + 1] = math.floor(reset * 1000000 + 0.5)
    end
    for i = 1, m do
      local p = b + (i - 1) * 4
      local used, refused = spent(KEYS[k + n + i], tonumber(v[p]), tonumber(v[p + 1]))
      if refused == 1 then
        allowed = 0
      end
      out[#out + 1] = used
      out[#out + 1] = refused
    end
    out[head] = allowed
  end
  if allowed == 1 then
    local field = tostring(math.floor(now / width))
    local ttl = math.ceil((window + width) * 1000)
    for i = 1, n do
      local charge = tonumber(v[a + 2 + (i - 1) * 3])
      -- Only a bucket's first charge sets the counter's expiry: made at a time in that
      -- bucket, it outlives the bucket's stay in the window, and later charges to the
      -- same bucket would set it no later than that (one redis.call less a charge).
      if charge > 0 and redis.call('HINCRBY', KEYS[k + i], field, charge) == charge then
        redis.call('PEXPIRE', KEYS[k + i], ttl)
      end
    end
    for i = 1, m do
      local p = b + (i - 1) * 4
      local charge = tonumber(v[p + 2])
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
