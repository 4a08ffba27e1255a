-- wrk script for every scenario of the kit. Environment:
--   SCENARIO   append | read | threads | search | me
--   USERS      number of seeded users (threads: 20 per user, ids as in bench/seed.sql)
--   TOKENS     file with one credential per line (line u = user u): JWTs or signed sessions
--   WRK_JSON   where done() writes the summary as JSON
-- Each request picks a user (and one of its threads) at random.

local scenario = os.getenv("SCENARIO") or "read"
local users = tonumber(os.getenv("USERS") or "1000")
local tokens_file = os.getenv("TOKENS")
local out = os.getenv("WRK_JSON")

local counter = 1
local threads = {}

function setup(thread)
  thread:set("id", counter)
  table.insert(threads, thread)
  counter = counter + 1
end

local tokens = {}
local words = { "postgres", "rust", "lisbon", "coffee", "guitar", "quantum", "invoice",
  "thread", "garlic", "telescope", "\"borrow checker\"", "travel -hotel", "museum or castle" }

-- A ~500-byte message with two sources (about 830 bytes of JSON).
local content = string.rep("The quick brown fox jumps over the lazy dog while the rust compiler checks lifetimes. ", 6)
content = string.sub(content, 1, 500)
local body = '{"role":"assistant","content":"' .. content .. '",' ..
  '"sources":[{"title":"Guide","url":"https://example.com/guide","snippet":"A short quote from the guide."},' ..
  '{"title":"Reference","url":"https://example.org/reference","snippet":"Another short quote."}]}'

function init(args)
  math.randomseed(os.time() * 1000 + (id or 0) * 7919)
  local f = assert(io.open(tokens_file, "r"))
  for line in f:lines() do
    tokens[#tokens + 1] = "Bearer " .. line
  end
  f:close()
  users = math.min(users, #tokens)
end

local function thread_id(u, k)
  return string.format("01800000-0000-7000-8000-%012x", (u - 1) * 20 + k)
end

local function urlencode(s)
  return (s:gsub("[^%w%-_%.~]", function(c) return string.format("%%%02X", string.byte(c)) end))
end

function request()
  local u = math.random(1, users)
  local headers = { ["Authorization"] = tokens[u] }
  if scenario == "append" then
    headers["Content-Type"] = "application/json"
    return wrk.format("POST", "/api/v1/threads/" .. thread_id(u, math.random(1, 20)) .. "/messages", headers, body)
  elseif scenario == "read" then
    return wrk.format("GET", "/api/v1/threads/" .. thread_id(u, math.random(1, 20)) .. "/messages?limit=50&order=desc", headers)
  elseif scenario == "threads" then
    return wrk.format("GET", "/api/v1/threads?limit=20", headers)
  elseif scenario == "search" then
    return wrk.format("GET", "/api/v1/search?limit=20&q=" .. urlencode(words[math.random(1, #words)]), headers)
  else
    return wrk.format("GET", "/api/v1/me", headers)
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  local errors = e.connect + e.read + e.write + e.status + e.timeout
  local seconds = summary.duration / 1e6
  local json = string.format(
    '{"scenario":"%s","requests":%d,"seconds":%.3f,"rps":%.1f,"p50_ms":%.3f,"p90_ms":%.3f,"p99_ms":%.3f,"max_ms":%.3f,"errors":%d,"status_errors":%d,"timeouts":%d}',
    scenario, summary.requests, seconds, summary.requests / seconds,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, errors, e.status, e.timeout)
  if out then
    local f = assert(io.open(out, "w"))
    f:write(json, "\n")
    f:close()
  end
  io.write(json, "\n")
end
