-- wrk load for the hub's VDXP sendEdoc (bench/bench_hub.py): each request POSTs a different
-- pre-signed package (distinct DocumentId) with its own pre-computed HMAC headers, read from
-- POOL_DIR/N.edxml and POOL_DIR/N.headers ("Name: value" per line). Thread k of T sends
-- packages k, k+T, k+2T, … and stops when its share of the pool is used, so no package is
-- sent twice. Usage:
--   wrk -t2 -c32 -d20s -s hub_send.lua URL -- POOL_DIR COUNT PATH THREADS [START [DELAY_MS]]
-- START (default 0) is the first package of this run's share (COUNT is where it ends);
-- DELAY_MS paces the load: after each answer a connection waits a random time, exponential
-- with that mean, before it sends again (wrk's delay()): the arrivals are then close to a
-- Poisson stream instead of the 32 connections moving in lockstep, bursts of 32 at a time.
-- Prints one line: ACCEPTED n DUPLICATE n FAILED n SECONDS s
local threads = {}
local counter = 0

function setup(thread)
  thread:set("index", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  pool = args[1]
  count = tonumber(args[2])
  path = args[3]
  step = tonumber(args[4])
  next_package = tonumber(args[5] or "0") + index
  pause = tonumber(args[6] or "0")
  math.randomseed(os.time() * 1000 + index)
  accepted, duplicate, failed = 0, 0, 0
  exhausted = false
end

local function read(name)
  local file = assert(io.open(name, "rb"))
  local data = file:read("*a")
  file:close()
  return data
end

function delay()
  if pause <= 0 then
    return 0
  end
  return math.floor(-pause * math.log(1 - math.random()))
end

function request()
  if next_package >= count then
    exhausted = true
    -- Nothing new to send: a cheap request that is not counted (the thread stops on its answer).
    return wrk.format("GET", "/healthz")
  end
  local n = next_package
  next_package = next_package + step
  local headers = {}
  for line in string.gmatch(read(pool .. "/" .. n .. ".headers"), "[^\n]+") do
    local name, value = string.match(line, "^([^:]+): (.*)$")
    headers[name] = value
  end
  return wrk.format("POST", path, headers, read(pool .. "/" .. n .. ".edxml"))
end

function response(status, headers, body)
  if exhausted then
    wrk.thread:stop()
    return
  end
  if status == 200 and string.find(body, '"ErrorCode":"0"', 1, true) then
    if string.find(body, '"duplicate":true', 1, true) then
      duplicate = duplicate + 1
    else
      accepted = accepted + 1
    end
  elseif status == 200 and string.find(body, '"stored":true', 1, true) then
    accepted = accepted + 1  -- the bare endpoint
  else
    failed = failed + 1
  end
end

function done(summary, latency, requests)
  local a, d, f = 0, 0, 0
  for _, thread in ipairs(threads) do
    a = a + thread:get("accepted")
    d = d + thread:get("duplicate")
    f = f + thread:get("failed")
  end
  io.write(string.format("ACCEPTED %d DUPLICATE %d FAILED %d SECONDS %.3f P50 %.1f P99 %.1f\n",
                         a, d, f, summary.duration / 1e6,
                         latency:percentile(50) / 1e3, latency:percentile(99) / 1e3))
end
