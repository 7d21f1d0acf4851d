-- wrk script: recommendations + banners of a random customer c0 … c(N-1) (KEY, N from the environment).
-- ONCE set: customers in turn instead (each thread its own residue class), to read each once.
local key = os.getenv("KEY")
local n = tonumber(os.getenv("N"))
local once = os.getenv("ONCE") ~= nil
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. key
math.randomseed(os.time())
local threads = 0
function setup(thread)
  thread:set("first", threads)
  threads = threads + 1
end
local next_c = nil
request = function()
  local c
  if once then
    next_c = next_c or first
    c = next_c % n
    next_c = next_c + 2
  else
    c = math.random(0, n - 1)
  end
  local body = '{"query":"{ recommendations(customerExternalId: \\"c' .. c .. '\\", first: 6) { externalId name } banners(customerExternalId: \\"c' .. c .. '\\") { id title } }"}'
  return wrk.format(nil, "/graphql", nil, body)
end
-- PACE_MS set: each connection waits that long between requests (32 connections, 32 ms:
-- about 1,000 requests/s), for the latency at a given rate rather than at saturation.
local pace = tonumber(os.getenv("PACE_MS") or "0")
if pace > 0 then
  delay = function() return pace end
end
