-- wrk script of bench/features.py: each connection cycles through the request paths listed in a file
-- (one per line, given after `--`), each thread starting at a different place so that the connections do not all
-- ask for the same page at once; done() prints one machine-readable line with the percentiles in microseconds.

local paths = {}
local position = 0
local thread_count = 0

function setup(thread)
  thread_count = thread_count + 1
  thread:set("start", thread_count)
end

function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then
      paths[#paths + 1] = line
    end
  end
  position = ((start or 1) * 7) % #paths
end

function request()
  position = position % #paths + 1
  return wrk.format("GET", paths[position])
end

function done(summary, latency, requests)
  io.write(string.format(
    "WRK_RESULT requests=%d duration_us=%d p50_us=%d p95_us=%d max_us=%d status_errors=%d timeouts=%d "
      .. "connect_errors=%d read_errors=%d bytes=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(95), latency.max,
    summary.errors.status, summary.errors.timeout, summary.errors.connect, summary.errors.read, summary.bytes))
end
