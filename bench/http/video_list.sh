#!/usr/bin/env bash
# Load figure for list routes (release `fanone standalone`): 200 videos published,
# then GET /video/list (video service + one batch call to interaction) and
# GET /video/popular (ranking cache + batch reads).
#   bench/http/video_list.sh [DURATION] [CONNECTIONS]
source "$(dirname "$0")/lib.sh"
duration=${1:-20s}
conns=${2:-64}
token=$(login author)
publish "$token" 200
uid=$(curl -sf "$gw/user/info" -H "Access-Token: $token" | sed 's/.*"id":"\([0-9]*\)".*/\1/')
expect_ok "$gw/video/list?user_id=$uid&page_num=3&page_size=20" -H "Access-Token: $token"
expect_ok "$gw/video/popular?page_size=20"
total=$(curl -sf "$gw/video/list?user_id=$uid" | grep -o '"total":[0-9]*')
[ "$total" = '"total":200' ] || { echo "bench: expected 200 videos, got $total" >&2; exit 1; }
header "-t2 -c$conns -d$duration"
echo "## GET /video/list?user_id=<id>&page_num=3&page_size=20"
wrk -t2 -c"$conns" -d"$duration" --latency -H "Access-Token: $token" \
  "$gw/video/list?user_id=$uid&page_num=3&page_size=20"
echo "## GET /video/popular?page_size=20"
wrk -t2 -c"$conns" -d"$duration" --latency "$gw/video/popular?page_size=20"
