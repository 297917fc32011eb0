-- The ingest benchmark's load: pre-signed webhook requests, read from files that
-- bench/ingest.py writes (one file per wrk thread, one request a line:
-- "<timestamp> <signature> <body>").
--
--   wrk -t T -c C -d D -s bench/ingest.lua URL -- PREFIX SECONDS MODE CONNS DONE_DIR
--
-- PREFIX: thread i reads PREFIX<i>.txt. MODE "once": every request is sent at most once (the
-- real service: each a distinct event); "wrap": the file is sent round and round (the bare
-- app). Each thread sends for SECONDS after its first request (or until its requests run
-- out), then sends nothing more, waits for every answer, writes DONE_DIR/<i> and stops:
-- every request sent is answered, so the count of accepted answers can be checked against
-- the database exactly. done() prints one line "INGEST_RESULT {json}".

local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } ingest_timespec;
int clock_gettime(int clk_id, ingest_timespec *tp);
]]
local tspec = ffi.new("ingest_timespec")
local function now()
   ffi.C.clock_gettime(1, tspec) -- CLOCK_MONOTONIC: the same clock in every thread
   return tonumber(tspec.tv_sec) + tonumber(tspec.tv_nsec) * 1e-9
end

-- setup and done run in their own environment

local threads = {}
local counter = 0

function setup(thread)
   counter = counter + 1
   thread:set("id", counter)
   table.insert(threads, thread)
end

-- the running phase, one environment per thread

function init(args)
   local prefix = args[1]
   seconds = tonumber(args[2])
   wrap = args[3] == "wrap"
   conns = tonumber(args[4])
   done_dir = args[5]
   reqs = {}
   local path = wrk.path
   for line in io.lines(prefix .. id .. ".txt") do
      local ts, sig, body = line:match("^(%d+) (%S+) (.*)$")
      reqs[#reqs + 1] = wrk.format("POST", path, {
         ["Content-Type"] = "application/json",
         ["X-Cart-Timestamp"] = ts,
         ["X-Cart-Signature"] = "sha256=" .. sig,
      }, body)
   end
   n = #reqs
   i = 0
   sent, answered, ok, accepted, duplicate, other = 0, 0, 0, 0, 0, 0
   first, last, deadline = 0, 0, 0
   stopping = false
   -- wrk calls request() once in the first thread before the run, to check what it returns
   probe = id == 1
end

function delay()
   -- a connection whose turn comes after the end waits (never sends again); each
   -- connection holds at most one pending turn, so at most `conns` requests follow `stopping`
   if stopping then
      return 3600000
   end
   return 0
end

function request()
   if probe then
      probe = false
      return reqs[1]
   end
   local t = now()
   if first == 0 then
      first = t
      deadline = t + seconds
   end
   i = i + 1
   if i > n then
      i = 1 -- only in "wrap" mode: "once" stops while `conns` requests are still left
   end
   sent = sent + 1
   if t >= deadline or (not wrap and n - i <= conns) then
      stopping = true
   end
   return reqs[i]
end

function response(status, headers, body)
   answered = answered + 1
   if status >= 200 and status < 300 then
      ok = ok + 1
      if body:find('"accepted"', 1, true) then
         accepted = accepted + 1
      elseif body:find('"duplicate"', 1, true) then
         duplicate = duplicate + 1
      end
   else
      other = other + 1
   end
   if stopping and answered == sent then
      last = now()
      local f = io.open(done_dir .. "/" .. id, "w")
      if f then
         f:write("done\n")
         f:close()
      end
      wrk.thread:stop()
   end
end

function done(summary, latency, requests)
   local t0, t1 = nil, 0
   local totals = { sent = 0, answered = 0, ok = 0, accepted = 0, duplicate = 0, other = 0 }
   local finished = 0
   for _, thread in ipairs(threads) do
      for k, _ in pairs(totals) do
         totals[k] = totals[k] + thread:get(k)
      end
      local f, l = thread:get("first"), thread:get("last")
      if f > 0 and (t0 == nil or f < t0) then
         t0 = f
      end
      if l > t1 then
         t1 = l
      end
      if l > 0 then
         finished = finished + 1
      end
   end
   local e = summary.errors
   io.write(string.format(
      'INGEST_RESULT {"threads": %d, "finished_threads": %d, "seconds": %.6f, ' ..
      '"sent": %d, "answered": %d, "ok": %d, "accepted": %d, "duplicate": %d, "other": %d, ' ..
      '"p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d, "mean_us": %.1f, ' ..
      '"wrk_requests": %d, "errors": {"connect": %d, "read": %d, "write": %d, ' ..
      '"status": %d, "timeout": %d}}\n',
      #threads, finished, (t0 and t1 > t0) and (t1 - t0) or 0,
      totals.sent, totals.answered, totals.ok, totals.accepted, totals.duplicate, totals.other,
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
      latency.mean, summary.requests, e.connect, e.read, e.write, e.status, e.timeout))
end
