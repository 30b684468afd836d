-- Shared by the wrk scripts: each thread takes its share of a list, and the run ends
-- with one line of JSON that bench/workflow.py reads.

local threads = {}

function setup(thread)
  thread:set("id", #threads)
  threads[#threads + 1] = thread
end

function share(path)
  local mine, n = {}, 0
  for line in io.lines(path) do
    if line ~= "" then
      if n % 2 == id then mine[#mine + 1] = line end
      n = n + 1
    end
  end
  return mine
end

function slurp(path)
  local file = assert(io.open(path, "rb"))
  local text = file:read("*a")
  file:close()
  return text
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "seconds": %.3f, "p50_us": %d, "p99_us": %d, "non_2xx": %d, "errors": %d}\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50), latency:percentile(99),
    e.status, e.connect + e.read + e.write + e.timeout))
end
