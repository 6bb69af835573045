-- wrk script of bench/http_load.py.
--
-- Arguments (after "--"): [REQUESTS_FILE THREADS]. Each line of the file is one
-- request: METHOD, path, If-Match value ("-" for none) and body ("-" for none),
-- separated by tabs. Thread i of THREADS sends lines i, i+THREADS, ... in turn and
-- wraps around at the end; with fewer lines than threads, thread i sends line
-- i mod LINES. Without a file every request is wrk's default GET.
-- Headers given with -H (credentials, Content-Type) go with every request: they are
-- copied into each one, because wrk.format uses only the headers it is given.
--
-- At the end one line is written: "BENCH " and a JSON object with the counts and
-- latency percentiles (microseconds) that the harness parses.

local thread_count = 0

function setup(thread)
  thread:set("index", thread_count)
  thread_count = thread_count + 1
end

local prepared = {}
local position = 0

local function split(line)
  local fields = {}
  for field in string.gmatch(line, "([^\t]+)") do
    fields[#fields + 1] = field
  end
  return fields
end

local function prepare(line)
  local fields = split(line)
  local headers = {}
  for name, value in pairs(wrk.headers) do
    headers[name] = value
  end
  if fields[3] ~= "-" then
    headers["If-Match"] = fields[3]
  end
  local body = nil
  if fields[4] ~= "-" then
    body = fields[4]
  end
  prepared[#prepared + 1] = wrk.format(fields[1], fields[2], headers, body)
end

function init(args)
  local file, threads = args[1], tonumber(args[2] or "1")
  if file == nil then
    return
  end
  local lines = {}
  for line in io.lines(file) do
    lines[#lines + 1] = line
  end
  if index < #lines then
    for number = index, #lines - 1, threads do
      prepare(lines[number + 1])
    end
  else
    prepare(lines[index % #lines + 1])
  end
end

function request()
  if #prepared == 0 then
    return wrk.request()
  end
  position = position % #prepared + 1
  return prepared[position]
end

function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    'BENCH {"requests": %d, "duration_us": %d, "connect": %d, "read": %d, "write": %d, '
      .. '"status": %d, "timeout": %d, "p50_us": %d, "p95_us": %d, "p99_us": %d, "max_us": %d}\n',
    summary.requests, summary.duration, errors.connect, errors.read, errors.write,
    errors.status, errors.timeout, latency:percentile(50), latency:percentile(95),
    latency:percentile(99), latency.max))
end
