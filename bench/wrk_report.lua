-- Prints one machine-readable line at the end of a wrk run. With env
-- WRK_TARGET set, every request uses that absolute-form target (what a
-- forward proxy receives).
local target = os.getenv("WRK_TARGET")
if target ~= nil and target ~= "" then
  request = function() return wrk.format(nil, target) end
end

done = function(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write
      + summary.errors.status + summary.errors.timeout
  io.write(string.format(
    "WRK_RESULT requests=%d duration_us=%d p50_us=%d p99_us=%d errors=%d\n",
    summary.requests, summary.duration, latency:percentile(50),
    latency:percentile(99), errors))
end
