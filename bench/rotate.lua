-- wrk script of the benchmarks (bench/features.py, bench/tiles.py) and the load test (deploy/load.py): each
-- connection cycles through the requests listed in a file given after `--`, one per line: a path (GET), or
-- METHOD<TAB>PATH<TAB>PREFER<TAB>JSON BODY (the last two may be empty). Each thread starts at a different place so
-- that the connections do not all ask for the same thing at once; done() prints one machine-readable line with the
-- percentiles in microseconds (status errors are answers of 400 and above).

local requests = {}
local position = 0
local thread_count = 0

function setup(thread)
  thread_count = thread_count + 1
  thread:set("start", thread_count)
end

local function parse(line)
  local method, path, prefer, body = line:match("^([^\t]*)\t([^\t]*)\t([^\t]*)\t(.*)$")
  if not method then
    return wrk.format("GET", line)
  end
  local headers = {}
  if #body > 0 then headers["Content-Type"] = "application/json" end
  if #prefer > 0 then headers["Prefer"] = prefer end
  return wrk.format(method, path, headers, #body > 0 and body or nil)
end

function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then
      requests[#requests + 1] = parse(line)
    end
  end
  position = ((start or 1) * 7) % #requests
end

function request()
  position = position % #requests + 1
  return requests[position]
end

function done(summary, latency, _)
  io.write(string.format(
    "WRK_RESULT requests=%d duration_us=%d p50_us=%d p95_us=%d max_us=%d status_errors=%d timeouts=%d "
      .. "connect_errors=%d read_errors=%d write_errors=%d bytes=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(95), latency.max,
    summary.errors.status, summary.errors.timeout, summary.errors.connect, summary.errors.read,
    summary.errors.write, summary.bytes))
end
