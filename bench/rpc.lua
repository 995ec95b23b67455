-- wrk script: POST one real RPC call on every request and check every answer.
--
-- Settings come from the environment (set by bench/loads.py):
--   BENCH_BODY     file holding the request body (XML-RPC methodCall or JSON-RPC object)
--   BENCH_TYPE     its Content-Type
--   BENCH_CHECK    Lua pattern a correct response body matches
--   BENCH_REFUSE   Lua pattern of a fault/error body
--   BENCH_BODY2 / BENCH_TYPE2 / BENCH_CHECK2 / BENCH_REFUSE2  optional second call,
--                  alternated with the first (the memory run mixes XML-RPC and JSON-RPC)
-- Rule: a response counts as good only with status 200, the check pattern and no fault;
-- everything else is counted in "bad". done() prints one JSON line starting with BENCH_JSON.

local function read_file(path)
  local handle = assert(io.open(path, "rb"))
  local data = handle:read("*a")
  handle:close()
  return data
end

local calls = {}
local threads = {}

local function load_calls()
  calls[1] = {body = read_file(os.getenv("BENCH_BODY")), ctype = os.getenv("BENCH_TYPE"),
              check = os.getenv("BENCH_CHECK"), refuse = os.getenv("BENCH_REFUSE")}
  local second = os.getenv("BENCH_BODY2")
  if second and second ~= "" then
    calls[2] = {body = read_file(second), ctype = os.getenv("BENCH_TYPE2"),
                check = os.getenv("BENCH_CHECK2"), refuse = os.getenv("BENCH_REFUSE2")}
  end
end

load_calls()
local requests_built = {}
-- Globals, not locals: done() reads each thread's counters with thread:get().
sent = 0
good = 0
bad = 0

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  for i, c in ipairs(calls) do
    requests_built[i] = wrk.format("POST", wrk.path, {["Content-Type"] = c.ctype}, c.body)
  end
end

function request()
  sent = sent + 1
  return requests_built[(sent - 1) % #requests_built + 1]
end

-- With two alternating calls a response is not tied to its call here, so a body is
-- good when it matches some call's check pattern and no call's fault pattern.
local function is_good(status, body)
  if status ~= 200 or body == nil then
    return false
  end
  for _, c in ipairs(calls) do
    if string.find(body, c.refuse) then
      return false
    end
  end
  for _, c in ipairs(calls) do
    if string.find(body, c.check) then
      return true
    end
  end
  return false
end

function response(status, headers, body)
  if is_good(status, body) then
    good = good + 1
  else
    bad = bad + 1
    if bad <= 3 then
      io.stderr:write("bad response " .. status .. ": " .. string.sub(body or "", 1, 300) .. "\n")
    end
  end
end

function done(summary, latency, requests)
  local total_good, total_bad = 0, 0
  for _, thread in ipairs(threads) do
    total_good = total_good + thread:get("good")
    total_bad = total_bad + thread:get("bad")
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"duration_us": %d, "requests": %d, "good": %d, "bad": %d, '
    .. '"connect_errors": %d, "read_errors": %d, "write_errors": %d, "status_errors": %d, '
    .. '"timeouts": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d}\n',
    summary.duration, summary.requests, total_good, total_bad, e.connect, e.read, e.write,
    e.status, e.timeout, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max))
end
