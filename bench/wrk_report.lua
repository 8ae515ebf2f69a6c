-- Prints one machine-readable line at the end of a wrk run.
--   WRK_TARGET  absolute-form target sent on every request (what a forward
--               proxy receives); with WRK_ITEMS=N, "/item/<random 0..N-1>"
--               is appended.
--   WRK_PATHS   with WRK_ITEMS=N and no WRK_TARGET: origin-form
--               "/item/<random>" paths (reverse mode, nginx).
--   WRK_CLOSE   send "Connection: close" (one TLS handshake per request).
--   WRK_AUTH    comma-separated Proxy-Authorization values sent in turn, one
--               per request (spreads the load over matgto sessions).
--   WRK_BEARER  "1": every request carries a new "Authorization: Bearer"
--               token (a recording learns a new secret per exchange).
local target = os.getenv("WRK_TARGET") or ""
local items = tonumber(os.getenv("WRK_ITEMS") or "0")
local close = os.getenv("WRK_CLOSE") == "1"
local headers = close and { ["Connection"] = "close" } or nil
local auth = {}
for value in string.gmatch(os.getenv("WRK_AUTH") or "", "[^,]+") do
  auth[#auth + 1] = { ["Proxy-Authorization"] = value }
end
local turn = 0
local bearer = os.getenv("WRK_BEARER") == "1"
local prefix = string.format("tok-%08x-", math.random(0, 0x7fffffff))
local minted = 0

request = function()
  local path = target
  if items > 0 then
    path = target .. "/item/" .. math.random(0, items - 1)
  elseif path == "" then
    path = wrk.path
  end
  if #auth > 0 then
    turn = turn % #auth + 1
    return wrk.format(nil, path, auth[turn])
  end
  if bearer then
    minted = minted + 1
    return wrk.format(nil, path, { ["Authorization"] = "Bearer " .. prefix .. minted })
  end
  return wrk.format(nil, path, headers)
end

done = function(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write
      + summary.errors.status + summary.errors.timeout
  io.write(string.format(
    "WRK_RESULT requests=%d duration_us=%d p50_us=%d p99_us=%d errors=%d\n",
    summary.requests, summary.duration, latency:percentile(50),
    latency:percentile(99), errors))
end
