-- wrk script: recommendations + banners of a random customer c0 … c(N-1) (KEY, N from the environment).
local key = os.getenv("KEY")
local n = tonumber(os.getenv("N"))
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. key
math.randomseed(os.time())
request = function()
  local c = math.random(0, n - 1)
  local body = '{"query":"{ recommendations(customerExternalId: \\"c' .. c .. '\\", first: 6) { externalId name } banners(customerExternalId: \\"c' .. c .. '\\") { id title } }"}'
  return wrk.format(nil, "/graphql", nil, body)
end
-- PACE_MS set: each connection waits that long between requests (32 connections, 32 ms:
-- about 1,000 requests/s), for the latency at a given rate rather than at saturation.
local pace = tonumber(os.getenv("PACE_MS") or "0")
if pace > 0 then
  delay = function() return pace end
end
