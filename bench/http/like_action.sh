#!/usr/bin/env bash
# Load figure for POST /like/action (release `fanone standalone`): 64 users each
# like and unlike 200 videos in turn (every request is a real state change: a like
# row inserted or deleted plus a counter event, in one transaction).
#   bench/http/like_action.sh [DURATION] [CONNECTIONS]
source "$(dirname "$0")/lib.sh"
duration=${1:-20s}
conns=${2:-64}
token=$(login author)
publish "$token" 200
uid=$(curl -sf "$gw/user/info" -H "Access-Token: $token" | sed 's/.*"id":"\([0-9]*\)".*/\1/')
ids=$(curl -sf "$gw/video/list?user_id=$uid&page_size=100&page_num=0"; curl -sf "$gw/video/list?user_id=$uid&page_size=100&page_num=1")
ids=$(echo "$ids" | grep -o '"id":"[0-9]*","user_id"' | cut -d'"' -f4 | tr '\n' ' ')
tokens=""
for i in $(seq 1 "$conns"); do tokens="$tokens $(login "liker$i")"; done
lua=$(mktemp --suffix=.lua)
cat >"$lua" <<LUA
local ids = {}
for id in string.gmatch("$ids", "%d+") do ids[#ids + 1] = id end
local tokens = {}
for t in string.gmatch("$tokens", "%S+") do tokens[#tokens + 1] = t end
local threads = {}
function setup(thread) table.insert(threads, thread) end
ok, other = 0, 0
local n = 0
request = function()
  n = n + 1
  local tok = tokens[(n % #tokens) + 1]
  local round = math.floor(n / (#tokens * #ids))
  local vid = ids[(math.floor(n / #tokens) % #ids) + 1]
  local action = (round % 2 == 0) and "1" or "2"
  return wrk.format("POST", "/like/action",
    {["Access-Token"] = tok, ["Content-Type"] = "application/x-www-form-urlencoded"},
    "video_id=" .. vid .. "&action_type=" .. action)
end
response = function(status, headers, body)
  if string.find(body, '"code":10000', 1, true) then ok = ok + 1 else other = other + 1 end
end
function done(summary, latency, requests)
  local a, b = 0, 0
  for _, t in ipairs(threads) do a = a + t:get("ok"); b = b + t:get("other") end
  io.write(string.format("state changes (code 10000): %d, other answers: %d\n", a, b))
end
LUA
first=$(echo "$ids" | awk '{print $1}')
[ -n "$first" ] || { echo "bench: no videos" >&2; exit 1; }
header "-t1 -c$conns -d$duration"
echo "## POST /like/action (like/unlike cycling over 200 videos x $conns users)"
wrk -t1 -c"$conns" -d"$duration" --latency -s "$lua" "$gw"
rm -f "$lua"
