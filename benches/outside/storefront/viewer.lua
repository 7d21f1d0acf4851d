-- wrk script: the cheapest authenticated request, the floor.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("KEY")
wrk.body = '{"query":"{ viewer { scope } }"}'
