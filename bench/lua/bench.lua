-- wrk script for the BlinkPOS bench. Mode and inputs come from the environment:
--   BENCH_MODE   get_many | post | webhook
--   BENCH_PATHS  file with one request path per line (get_many)
--   BENCH_PATH   request path (post, webhook)
--   BENCH_BODY   file holding the POST body (post)
--   BENCH_DELIVERIES file: "svix-id<TAB>timestamp<TAB>signature<TAB>body" per line (webhook)
--   BENCH_HEADERS file: "Name: value" per line, added to every request
--   BENCH_OUT    where done() writes the JSON summary
local mode = os.getenv("BENCH_MODE") or "get_many"
local headers = { }
local paths = { }
local deliveries = { }
local body = nil
local next_index = 1
local accepted = 0
local unique = 0
local threads = { }
local counter = 0

local function lines(path)
  local out = { }
  if path == nil or path == "" then return out end
  for line in io.lines(path) do
    if line ~= "" then out[#out + 1] = line end
  end
  return out
end

function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
  table.insert(threads, thread)
end

function init(args)
  local nthreads = tonumber(os.getenv("BENCH_THREADS") or "1")
  for _, line in ipairs(lines(os.getenv("BENCH_HEADERS"))) do
    local name, value = line:match("^([^:]+):%s*(.*)$")
    if name then headers[name] = value end
  end
  if mode == "get_many" then
    paths = lines(os.getenv("BENCH_PATHS"))
  elseif mode == "post" then
    local f = io.open(os.getenv("BENCH_BODY"), "rb")
    body = f:read("*a")
    f:close()
    headers["Content-Type"] = "application/json"
  elseif mode == "webhook" then
    local all = lines(os.getenv("BENCH_DELIVERIES"))
    -- Thread k (1-based) takes every nthreads-th svix-id, with all of that id's copies (the list's
    -- duplicates), so each delivery is sent by exactly one thread and that thread knows how many
    -- distinct deliveries it must see accepted.
    local owner = { }
    local ids = 0
    for _, line in ipairs(all) do
      local sid = line:match("^([^\t]+)\t")
      if owner[sid] == nil then
        ids = ids + 1
        owner[sid] = (ids - 1) % nthreads
        if owner[sid] == id - 1 then unique = unique + 1 end
      end
      if owner[sid] == id - 1 then deliveries[#deliveries + 1] = line end
    end
  end
  math.randomseed(id * 7919 + os.time())
end

function request()
  if mode == "get_many" then
    return wrk.format("GET", paths[math.random(#paths)], headers, nil)
  elseif mode == "post" then
    return wrk.format("POST", os.getenv("BENCH_PATH"), headers, body)
  end
  -- webhook: each delivery once; once this thread's slice is sent, repeat a random one of it (a
  -- legitimate duplicate) until every distinct delivery of the slice was accepted (see response()).
  local line
  if next_index <= #deliveries then
    line = deliveries[next_index]
    next_index = next_index + 1
  else
    line = deliveries[math.random(#deliveries)]
  end
  local sid, ts, sig, payload = line:match("^([^\t]+)\t([^\t]+)\t([^\t]+)\t(.*)$")
  local h = { }
  for k, v in pairs(headers) do h[k] = v end
  h["Content-Type"] = "application/json"
  h["svix-id"] = sid
  h["svix-timestamp"] = ts
  h["svix-signature"] = sig
  return wrk.format("POST", os.getenv("BENCH_PATH"), h, payload)
end

function response(status, hdrs, resp_body)
  -- Done when every distinct delivery of the slice was accepted (recorded) by the server: each is
  -- answered "accepted" exactly once, whichever copy got there first; the copies sent meanwhile are
  -- legitimate redeliveries. Counting responses instead could stop with a delivery still unsent.
  if mode == "webhook" and status == 200 and resp_body:find('"status"%s*:%s*"accepted"') then
    accepted = accepted + 1
    if accepted == unique then
      -- Tell the bench this thread is done (wrk's main thread sleeps the whole -d otherwise; the
      -- bench sends SIGINT once every thread has left a marker, and wrk then reports as usual).
      local marker = io.open(os.getenv("BENCH_OUT") .. ".stopped." .. id, "w")
      if marker then marker:close() end
      wrk.thread:stop()
    end
  end
end

function done(summary, latency, requests)
  local out = io.open(os.getenv("BENCH_OUT"), "w")
  local e = summary.errors
  out:write(string.format(
    '{"requests": %d, "duration_us": %d, "bytes": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d, ' ..
    '"mean_us": %.1f, "errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}}',
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean,
    e.connect, e.read, e.write, e.status, e.timeout))
  out:close()
end
