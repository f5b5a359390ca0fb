-- wrk replays callbacks prepared by `kfgate sim load --dump N` (one per
-- line: path and query, a tab, the body). Each of THREADS threads (default
-- 2, as wrk -t2) takes its own share, so every request is a new message
-- rather than a retry, as long as the file holds more than the run sends.
--   kfgate sim load --config deploy/load/kfgate.load.yaml --dump 300000 > /tmp/callbacks.txt
--   CALLBACKS=/tmp/callbacks.txt wrk -t2 -c64 -d15s -s deploy/load/wrk.lua http://127.0.0.1:18080
-- wrk counts answers other than 2xx/3xx as "Non-2xx or 3xx responses".
local threads = 0
local reqs, n = {}, 0

function setup(thread)
  thread:set("id", threads)
  threads = threads + 1
end

function init(args)
  local nthreads = tonumber(os.getenv("THREADS") or "2")
  local i = 0
  for line in io.lines(os.getenv("CALLBACKS") or "/tmp/callbacks.txt") do
    if i % nthreads == id then
      local tab = line:find("\t", 1, true)
      reqs[#reqs + 1] = wrk.format("POST", line:sub(1, tab - 1), {["Content-Type"] = "text/xml"}, line:sub(tab + 1))
    end
    i = i + 1
  end
end

function request()
  n = n + 1
  return reqs[(n - 1) % #reqs + 1]
end
