-- wrk script of deploy/load.py: each connection cycles through the requests of a file, one per line as
-- METHOD<TAB>PATH<TAB>PREFER<TAB>JSON BODY (the last two may be empty), each thread from its own place.
-- done() prints one machine-readable line; status errors are answers of 400 and above.

local requests = {}
local position = 0
local thread_count = 0

function setup(thread)
  thread_count = thread_count + 1
  thread:set("start", thread_count)
end

function init(args)
  for line in io.lines(args[1]) do
    local method, path, prefer, body = line:match("^([^\t]*)\t([^\t]*)\t([^\t]*)\t(.*)$")
    if method then
      local headers = {}
      if #body > 0 then headers["Content-Type"] = "application/json" end
      if #prefer > 0 then headers["Prefer"] = prefer end
      requests[#requests + 1] = wrk.format(method, path, headers, #body > 0 and body or nil)
    end
  end
  position = ((start or 1) * 13) % #requests
end

function request()
  position = position % #requests + 1
  return requests[position]
end

function done(summary, latency, _)
  io.write(string.format(
    "WRK_RESULT requests=%d duration_us=%d p50_us=%d p95_us=%d max_us=%d status_errors=%d timeouts=%d "
      .. "connect_errors=%d read_errors=%d write_errors=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(95), latency.max,
    summary.errors.status, summary.errors.timeout, summary.errors.connect, summary.errors.read,
    summary.errors.write))
end
