//! The Lua scripts. Each state change is one script, so it is atomic on the server and costs
//! one round trip; time comes from Redis `TIME`, never from a worker's clock.
//!
//! Every script gets the job's key prefix as `ARGV[1]` and declares the job's `counts` key as
//! `KEYS[1]` (so a cluster client routes it to the job's slot); the other keys share the hash
//! tag and therefore the slot. Lua numbers are doubles: large numbers go back to Redis through
//! `fmt` (Redis would format a Lua number with 14 significant digits), and 64-bit fingerprints
//! stay strings throughout.

use redis::Script;

/// Shared helpers, prepended to every script.
const PRELUDE: &str = r#"
local P = ARGV[1]
local function fmt(x) return string.format('%.0f', x) end
local T = redis.call('TIME')
local NOW = tonumber(T[1]) * 1000 + math.floor(tonumber(T[2]) / 1000)

local turn = nil
local function next_turn()
  if not turn then turn = tonumber(redis.call('GET', P .. 'turn')) or 0 end
  turn = turn + 1
  return fmt(turn)
end

local d = {queued = 0, leased = 0, done = 0, failed = 0, reclaimed = 0}
local function save()
  for field, delta in pairs(d) do
    if delta ~= 0 then redis.call('HINCRBY', P .. 'counts', field, delta) end
  end
  if turn then redis.call('SET', P .. 'turn', fmt(turn)) end
end

-- A host with queued work becomes leasable: in turn order now, or after its delay.
local function schedule(host, not_before)
  if not_before > NOW then
    redis.call('ZREM', P .. 'ready', host)
    redis.call('ZADD', P .. 'delayed', fmt(not_before), host)
  elseif not redis.call('ZSCORE', P .. 'delayed', host) then
    redis.call('ZADD', P .. 'ready', 'NX', next_turn(), host)
  end
end

-- Queues a new entry at the back of its host's queue.
local function push(host, entry)
  if redis.call('RPUSH', P .. 'q:' .. host, entry) == 1 then
    local not_before = tonumber(redis.call('HGET', P .. 'next', host))
    if not_before then redis.call('HDEL', P .. 'next', host) else not_before = 0 end
    schedule(host, not_before)
  end
  d.queued = d.queued + 1
end

-- Adds the new ones among (bucket, fingerprint, host, entry) groups starting at ARGV[from].
local function add_new(from)
  local added = 0
  for i = from, #ARGV, 4 do
    if redis.call('SADD', P .. 'seen:' .. ARGV[i], ARGV[i + 1]) == 1 then
      push(ARGV[i + 2], ARGV[i + 3])
      added = added + 1
    end
  end
  return added
end

-- One lease of `host` ended: free its slot; it may be leased again after `delay` ms.
local function host_freed(host, delay)
  if redis.call('HINCRBY', P .. 'active', host, -1) <= 0 then
    redis.call('HDEL', P .. 'active', host)
  end
  if redis.call('LLEN', P .. 'q:' .. host) > 0 then
    schedule(host, NOW + delay)
  elseif delay > 0 then
    redis.call('HSET', P .. 'next', host, fmt(NOW + delay))
  end
end

-- Takes the live lease `token` off the books if it was issued for fingerprint `fp`.
-- Returns its host and entry, or nil when the token is not current.
local function take_lease(token, fp)
  local v = redis.call('HGET', P .. 'lease', token)
  if not v then return nil end
  local host, entry = string.match(v, '^([^\t]*)\t(.*)$')
  if string.match(entry, '^[^\t]*') ~= fp then return nil end
  redis.call('HDEL', P .. 'lease', token)
  redis.call('ZREM', P .. 'lease_exp', token)
  d.leased = d.leased - 1
  return host, entry
end

-- Puts up to `cap` expired leases back at the head of their queues (a URL whose lease
-- expired `max_expiries` times is failed as `lease_expired`). Returns how many
-- expired leases it looked at.
local function reclaim(cap, delay, max_expiries)
  local expired = redis.call('ZRANGEBYSCORE', P .. 'lease_exp', '-inf', fmt(NOW), 'LIMIT', 0, cap)
  for _, token in ipairs(expired) do
    redis.call('ZREM', P .. 'lease_exp', token)
    local v = redis.call('HGET', P .. 'lease', token)
    if v then
      redis.call('HDEL', P .. 'lease', token)
      d.leased = d.leased - 1
      local host, fp, depth, n, url =
        string.match(v, '^([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t(.*)$')
      n = (tonumber(n) or 0) + 1
      if n >= max_expiries then
        redis.call('HINCRBY', P .. 'failures', 'lease_expired', 1)
        d.failed = d.failed + 1
      else
        redis.call('LPUSH', P .. 'q:' .. host, fp .. '\t' .. depth .. '\t' .. n .. '\t' .. url)
        d.queued = d.queued + 1
        d.reclaimed = d.reclaimed + 1
      end
      host_freed(host, delay)
    end
  end
  return #expired
end
"#;

/// `add`: ARGV[2..] are (bucket, fingerprint, host, entry) groups. Returns how many were new.
const ADD: &str = r#"
local added = add_new(2)
save()
return added
"#;

/// `claim`: ARGV = prefix, bucket, fingerprint of the target, fingerprint of the claimant.
/// 1 when the target is now (or already was) claimed by this claimant, 0 when it is known
/// otherwise (queued, leased, done, failed, or claimed by another URL).
const CLAIM: &str = r#"
local owner = redis.call('HGET', P .. 'claimed', ARGV[3])
if owner then
  if owner == ARGV[4] then return 1 else return 0 end
end
if redis.call('SADD', P .. 'seen:' .. ARGV[2], ARGV[3]) == 1 then
  redis.call('HSET', P .. 'claimed', ARGV[3], ARGV[4])
  return 1
end
return 0
"#;

/// `lease`: ARGV = prefix, max, per-host limit, ttl ms, host delay ms, reclaim cap,
/// max expiries. Reclaims expired leases, moves hosts whose delay ended into the turn order,
/// then takes hosts in turn, one URL per turn, skipping hosts at their fleet-wide limit.
/// Returns a flat array `token, entry, token, entry, ...`.
const LEASE: &str = r#"
local max, limit, ttl = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local delay, cap, max_expiries = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
reclaim(cap, delay, max_expiries)
local due = redis.call('ZRANGEBYSCORE', P .. 'delayed', '-inf', fmt(NOW), 'LIMIT', 0, cap)
for _, host in ipairs(due) do
  redis.call('ZREM', P .. 'delayed', host)
  redis.call('ZADD', P .. 'ready', 'NX', next_turn(), host)
end
local out = {}
local n = 0
local base = nil
local expiry = fmt(NOW + ttl)
while n < max do
  local top = redis.call('ZPOPMIN', P .. 'ready')
  if #top == 0 then break end
  local host = top[1]
  -- A host at its limit (or with an empty queue) leaves the turn order here; `host_freed`
  -- puts it back when one of its leases ends.
  local active = tonumber(redis.call('HGET', P .. 'active', host)) or 0
  if active < limit then
    local entry = redis.call('LPOP', P .. 'q:' .. host)
    if entry then
      if not base then base = redis.call('INCRBY', P .. 'token', max) - max end
      n = n + 1
      local token = fmt(base + n)
      redis.call('HSET', P .. 'lease', token, host .. '\t' .. entry)
      redis.call('ZADD', P .. 'lease_exp', expiry, token)
      redis.call('HINCRBY', P .. 'active', host, 1)
      out[#out + 1] = token
      out[#out + 1] = entry
      if active + 1 < limit and redis.call('LLEN', P .. 'q:' .. host) > 0 then
        redis.call('ZADD', P .. 'ready', next_turn(), host)
      end
    end
  end
end
d.queued = d.queued - n
d.leased = d.leased + n
save()
return out
"#;

/// `complete`: ARGV = prefix, token, fingerprint, `done`|`failed`, reason, host delay ms,
/// replay (`1` on a retried call), ack ttl ms, then discovered groups. Returns the number of
/// new discovered URLs, or -1 when the lease is not current (nothing recorded). A retried call
/// whose first attempt did land (its reply was lost) finds the `ack:` marker and replays the
/// answer instead of reporting a stale lease.
const COMPLETE: &str = r#"
local token, fp, kind, reason = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local delay, replay, ack_ttl = tonumber(ARGV[6]), ARGV[7], ARGV[8]
local host = take_lease(token, fp)
if not host then
  if replay == '1' then
    local answer = redis.call('GET', P .. 'ack:' .. token)
    if answer then return tonumber(answer) end
  end
  return -1
end
if kind == 'done' then
  d.done = d.done + 1
else
  d.failed = d.failed + 1
  redis.call('HINCRBY', P .. 'failures', reason, 1)
end
local added = add_new(9)
host_freed(host, delay)
redis.call('SET', P .. 'ack:' .. token, added, 'PX', ack_ttl)
save()
return added
"#;

/// `release`: ARGV = prefix, token, fingerprint, replay, ack ttl ms. Puts the entry back at the
/// head of its queue. Returns 0, or -1 when the lease is not current.
const RELEASE: &str = r#"
local token, fp, replay, ack_ttl = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local host, entry = take_lease(token, fp)
if not host then
  if replay == '1' and redis.call('GET', P .. 'ack:' .. token) then return 0 end
  return -1
end
redis.call('LPUSH', P .. 'q:' .. host, entry)
d.queued = d.queued + 1
host_freed(host, 0)
redis.call('SET', P .. 'ack:' .. token, 0, 'PX', ack_ttl)
save()
return 0
"#;

/// `renew`: ARGV = prefix, ttl ms, worker id, worker ttl ms, registered (`1`/`0`), then the
/// tokens this process holds. Extends each lease that is still current; refreshes the worker's
/// heartbeat key. Returns `{draining, lost token, lost token, ...}`.
const RENEW: &str = r#"
local expiry = fmt(NOW + tonumber(ARGV[2]))
local out = {redis.call('EXISTS', P .. 'drain')}
for i = 6, #ARGV do
  if redis.call('ZSCORE', P .. 'lease_exp', ARGV[i]) then
    redis.call('ZADD', P .. 'lease_exp', 'XX', expiry, ARGV[i])
  else
    out[#out + 1] = ARGV[i]
  end
end
if ARGV[5] == '1' then
  redis.call('SET', P .. 'worker:' .. ARGV[3], #ARGV - 5 - (#out - 1), 'PX', ARGV[4])
  redis.call('SADD', P .. 'workers', ARGV[3])
end
return out
"#;

/// `counts`: ARGV = prefix, reclaim cap, host delay ms, max expiries. Reclaims expired leases
/// first, so a job whose whole fleet died still ends. Returns
/// `{queued, leased, done, failed, more expired leases left (0/1)}`.
const COUNTS: &str = r#"
local cap = tonumber(ARGV[2])
local more = reclaim(cap, tonumber(ARGV[3]), tonumber(ARGV[4])) == cap
save()
local c = redis.call('HMGET', P .. 'counts', 'queued', 'leased', 'done', 'failed')
return {tonumber(c[1]) or 0, tonumber(c[2]) or 0, tonumber(c[3]) or 0, tonumber(c[4]) or 0,
  more and 1 or 0}
"#;

/// `status`: ARGV = prefix, hosts per list, reclaim cap, host delay ms, max expiries. Returns
/// `{{queued, leased, done, failed, reclaimed}, draining, {reason, n, ...},
/// {worker, leases, ...}, {host, state, active, queued, ...}}`; hosts are those with live
/// leases plus the first few that are ready and delayed. Workers whose heartbeat expired are
/// dropped from the registry.
const STATUS: &str = r#"
local top = tonumber(ARGV[2])
reclaim(tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]))
save()
local c = redis.call('HMGET', P .. 'counts', 'queued', 'leased', 'done', 'failed', 'reclaimed')
local counts = {}
for i = 1, 5 do counts[i] = tonumber(c[i]) or 0 end
local workers = {}
for _, id in ipairs(redis.call('SMEMBERS', P .. 'workers')) do
  local held = redis.call('GET', P .. 'worker:' .. id)
  if held then
    workers[#workers + 1] = id
    workers[#workers + 1] = held
  else
    redis.call('SREM', P .. 'workers', id)
  end
end
local hosts = {}
local function row(host, state)
  hosts[#hosts + 1] = host
  hosts[#hosts + 1] = state
  hosts[#hosts + 1] = tonumber(redis.call('HGET', P .. 'active', host)) or 0
  hosts[#hosts + 1] = redis.call('LLEN', P .. 'q:' .. host)
end
local active = redis.call('HKEYS', P .. 'active')
for _, host in ipairs(active) do row(host, 'leased') end
for _, host in ipairs(redis.call('ZRANGE', P .. 'ready', 0, top - 1)) do row(host, 'ready') end
for _, host in ipairs(redis.call('ZRANGE', P .. 'delayed', 0, top - 1)) do row(host, 'delayed') end
return {counts, redis.call('EXISTS', P .. 'drain'), redis.call('HGETALL', P .. 'failures'),
  workers, hosts}
"#;

/// The compiled scripts of one frontier.
pub(crate) struct Scripts {
    pub(crate) add: Script,
    pub(crate) claim: Script,
    pub(crate) lease: Script,
    pub(crate) complete: Script,
    pub(crate) release: Script,
    pub(crate) renew: Script,
    pub(crate) counts: Script,
    pub(crate) status: Script,
}

impl Scripts {
    pub(crate) fn new() -> Self {
        let with_prelude = |body: &str| Script::new(&format!("{PRELUDE}{body}"));
        Self {
            add: with_prelude(ADD),
            claim: with_prelude(CLAIM),
            lease: with_prelude(LEASE),
            complete: with_prelude(COMPLETE),
            release: with_prelude(RELEASE),
            renew: with_prelude(RENEW),
            counts: with_prelude(COUNTS),
            status: with_prelude(STATUS),
        }
    }

    /// All of them, to load at connect time (a pipelined EVALSHA has no EVAL fallback).
    pub(crate) fn all(&self) -> [&Script; 8] {
        [
            &self.add,
            &self.claim,
            &self.lease,
            &self.complete,
            &self.release,
            &self.renew,
            &self.counts,
            &self.status,
        ]
    }
}
