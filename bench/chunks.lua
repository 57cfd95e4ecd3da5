-- wrk script: the platform's agents at full speed. Each wrk thread holds one connection and
-- streams one reply: BENCH_PATHS (one chunks URL a line) are handed to the threads in turn, and
-- each thread appends chunk 0, 1, 2, ... as soon as the last one is acknowledged.
local paths = {}
for line in string.gmatch(os.getenv("BENCH_PATHS"), "[^\n]+") do table.insert(paths, line) end
local threads = {}
local handed = 0

function setup(thread)
  handed = handed + 1
  thread:set("path", paths[(handed - 1) % #paths + 1])
  table.insert(threads, thread)
end

function init(args)
  index = 0
  failures = 0
end

function request()
  local body = string.format('{"index": %d, "parts": [{"type": "text", "text": "tok "}]}', index)
  return wrk.format("POST", path, {["content-type"] = "application/json",
    ["x-api-key"] = os.getenv("BENCH_KEY")}, body)
end

-- The next index once this one is acknowledged (wrk may build a request before the last answer).
function response(status, headers, body)
  if status == 200 then
    index = index + 1
  else
    failures = failures + 1
    if failures == 1 then io.stderr:write(status .. " " .. body .. "\n") end
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
