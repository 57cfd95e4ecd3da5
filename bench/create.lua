-- wrk script: POST a body with the bench key, or a signed-in user's access token; counts answers
-- that are not a success. BENCH_PATH, BENCH_KEY (or BENCH_TOKEN) and BENCH_BODY come from the
-- environment.
wrk.method = "POST"
wrk.path = os.getenv("BENCH_PATH")
wrk.body = os.getenv("BENCH_BODY")
wrk.headers["content-type"] = "application/json"
if os.getenv("BENCH_TOKEN") then
  wrk.headers["authorization"] = "Bearer " .. os.getenv("BENCH_TOKEN")
else
  wrk.headers["x-api-key"] = os.getenv("BENCH_KEY")
end

local threads = {}

-- BENCH_PATHS and BENCH_BODIES (one a line, in pairs): the requests taken in turn instead.
local paths, bodies = {}, {}
for line in string.gmatch(os.getenv("BENCH_PATHS") or "", "[^\n]+") do table.insert(paths, line) end
for line in string.gmatch(os.getenv("BENCH_BODIES") or "", "[^\n]+") do table.insert(bodies, line) end
local turn = 0
if #paths > 0 then
  function request()
    turn = turn + 1
    local i = turn % #paths + 1
    return wrk.format(nil, paths[i], nil, bodies[i])
  end
end

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  failures = 0
end

function response(status, headers, body)
  if status ~= 200 or string.find(body, '"errors"', 1, true) then
    failures = failures + 1
  end
end

function done(summary, latency, requests)
  local total = 0
  for _, thread in ipairs(threads) do
    total = total + thread:get("failures")
  end
  io.write(string.format("FAILURES %d\n", total))
  io.write(string.format("REQUESTS %d\n", summary.requests))
  io.write(string.format("P50_US %d\n", latency:percentile(50)))
  io.write(string.format("P99_US %d\n", latency:percentile(99)))
end
