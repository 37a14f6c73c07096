-- wrk script for bench/vs-etcd.sh: POST /v3/kv/put of etcd's JSON gateway with a random 16-character
-- key and a 256-byte value per request; at the end one line with requests/s, p50, p99 and errors.

local b64chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

local function base64(s)
  local out = {}
  for i = 1, #s, 3 do
    local a, b, c = s:byte(i, i + 2)
    local n = a * 65536 + (b or 0) * 256 + (c or 0)
    local c1 = math.floor(n / 262144) % 64
    local c2 = math.floor(n / 4096) % 64
    local c3 = math.floor(n / 64) % 64
    local c4 = n % 64
    out[#out + 1] = b64chars:sub(c1 + 1, c1 + 1) .. b64chars:sub(c2 + 1, c2 + 1)
      .. (b and b64chars:sub(c3 + 1, c3 + 1) or "=") .. (c and b64chars:sub(c4 + 1, c4 + 1) or "=")
  end
  return table.concat(out)
end

local value
local headers = { ["Content-Type"] = "application/json" }

function setup(thread)
  thread:set("seed", math.random(1, 2147483647))
end

function init(args)
  math.randomseed(tonumber(seed) or os.time())
  local bytes = {}
  for i = 1, 256 do bytes[i] = string.char(math.random(0, 255)) end
  value = base64(table.concat(bytes))
end

function request()
  local key = string.format("%08x%08x", math.random(0, 2147483646), math.random(0, 2147483646))
  return wrk.format("POST", "/v3/kv/put", headers, '{"key":"' .. base64(key) .. '","value":"' .. value .. '"}')
end

function done(summary, latency, requests)
  local e = summary.errors
  local errors = e.connect + e.read + e.write + e.status + e.timeout
  io.write(string.format("RESULT %.1f %d %d %d %d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50), latency:percentile(99), errors, summary.requests))
end
