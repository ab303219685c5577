-- wrk script: POSTs the SOAP request in $BODY_FILE and, when done, writes the
-- summary as JSON to $WRK_JSON (latencies in microseconds) for run.sh.
local f = assert(io.open(os.getenv("BODY_FILE"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "text/xml; charset=utf-8"

function done(summary, latency, requests)
	local path = os.getenv("WRK_JSON")
	if not path then
		return
	end
	local e = summary.errors
	local out = assert(io.open(path, "w"))
	out:write(string.format(
		'{"requests":%d,"duration_us":%d,"bytes":%d,' ..
		'"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
		'"latency_us":{"min":%d,"mean":%.1f,"stdev":%.1f,"p50":%d,"p90":%d,"p99":%d,' ..
		'"p999":%d,"max":%d}}\n',
		summary.requests, summary.duration, summary.bytes,
		e.connect, e.read, e.write, e.status, e.timeout,
		latency.min, latency.mean, latency.stdev, latency:percentile(50),
		latency:percentile(90), latency:percentile(99), latency:percentile(99.9), latency.max))
	out:close()
end
