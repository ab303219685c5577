-- wrk script: POSTs the SOAP request in $BODY_FILE and, when done, writes the
-- summary as JSON to $WRK_JSON (latencies in microseconds) for run.sh.
-- Each request gets its own message id (the gateways refuse a repeated one):
-- the placeholder id of the body file is replaced per request.
local f = assert(io.open(os.getenv("BODY_FILE"), "rb"))
wrk.method = "POST"
local body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "text/xml; charset=utf-8"
local mark = "00000000%-0000%-4000%-8000%-000000000000"
local pre, post = body:match("^(.-)" .. mark .. "(.*)$")
assert(pre, "the body has no placeholder message id")
tid = 0   -- set per thread by setup() (a global of that thread's interpreter)
local n = 0
local counter = 0

function setup(thread)
	counter = counter + 1
	thread:set("tid", counter)
end

-- A random stem per thread and run (wrk is run several times against the same
-- gateways, whose replay window remembers earlier ids).
local stem = nil
-- The request line and headers, made once by wrk.format: every id has the
-- same length, so only the body's id changes (wrk's CPU is the gateways'
-- loss on this machine; wrk.format per request cost it a few us each).
local head = nil

function request()
	if not stem then
		local u = assert(io.open("/proc/sys/kernel/random/uuid", "r"))
		stem = u:read("*l"):sub(1, 18)
		u:close()
		local b = pre .. string.rep("0", 36) .. post
		local whole = wrk.format(nil, nil, nil, b)
		head = whole:sub(1, #whole - #b)
		assert(head:sub(-4) == "\r\n\r\n", "wrk.format: the body is not at the end")
	end
	n = n + 1
	local id = string.format("%s%02x%016x", stem, tid % 256, n)
	return head .. pre .. id .. post
end

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
