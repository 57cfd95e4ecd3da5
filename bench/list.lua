-- wrk script: GET a page of chats with the bench key (BENCH_PATH, BENCH_KEY from the environment).
wrk.method = "GET"
wrk.path = os.getenv("BENCH_PATH")
wrk.headers["x-api-key"] = os.getenv("BENCH_KEY")

function done(summary, latency, requests)
  io.write(string.format("REQUESTS %d\n", summary.requests))
  io.write(string.format("FAILURES %d\n", summary.errors.status + summary.errors.connect
    + summary.errors.read + summary.errors.write + summary.errors.timeout))
  io.write(string.format("P50_US %d\n", latency:percentile(50)))
  io.write(string.format("P99_US %d\n", latency:percentile(99)))
end
