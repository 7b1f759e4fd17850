-- wrk load for the CA's registration API: each connection submits CSRs (POST /v1/requests)
-- and approves what it submitted, one by one (batch 1: POST /v1/requests/{id}/approve) or up
-- to BATCH ids per call (POST /v1/requests/approve). Usage:
--   wrk -t2 -c16 -d8s -s issue.lua URL -- BATCH BODY_FILE TOKEN
-- BODY_FILE holds the JSON of one submission. Prints one line: ISSUED n SUBMITTED n ...
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  batch = tonumber(args[1] or "1")
  local file = assert(io.open(args[2], "r"))
  submit_body = file:read("*a")
  file:close()
  local token = args[3]
  submit_headers = { ["Content-Type"] = "application/json", ["X-Requested-By"] = "bench" }
  operator = { ["Authorization"] = "Bearer " .. token, ["X-Operator"] = "bench",
               ["Content-Type"] = "application/json" }
  pending = {}
  approved, submitted, refused = 0, 0, 0
end

function request()
  -- Approve once a batch is ready (or now and then with fewer, so none waits forever).
  if #pending >= batch or (#pending > 0 and math.random() < 0.05) then
    local ids = {}
    for i = 1, math.min(batch, #pending) do ids[i] = table.remove(pending, 1) end
    if batch == 1 then
      return wrk.format("POST", "/v1/requests/" .. ids[1] .. "/approve", operator, "")
    end
    return wrk.format("POST", "/v1/requests/approve", operator,
                      '{"ids":[' .. table.concat(ids, ",") .. "]}")
  end
  return wrk.format("POST", "/v1/requests", submit_headers, submit_body)
end

function response(status, headers, body)
  if status == 201 then
    submitted = submitted + 1
    table.insert(pending, string.match(body, '"id":%s*(%d+)'))
  elseif status == 200 then
    local _, issued = string.gsub(body, '"status":%s*"issued"', "")
    approved = approved + issued
    local _, problems = string.gsub(body, '"problem":', "")
    refused = refused + problems
  else
    refused = refused + 1
  end
end

function done(summary, latency, requests)
  local issued, sent, failed = 0, 0, 0
  for _, thread in ipairs(threads) do
    issued = issued + thread:get("approved")
    sent = sent + thread:get("submitted")
    failed = failed + thread:get("refused")
  end
  io.write(string.format("ISSUED %d SUBMITTED %d REFUSED %d SECONDS %.3f\n",
                         issued, sent, failed, summary.duration / 1e6))
end
