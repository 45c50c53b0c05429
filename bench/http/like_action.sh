#!/usr/bin/env bash
# Load figure for POST /like/action (release `fanone standalone`): 64 users each
# like and unlike 200 videos in turn (every request is a real state change: a like
# row inserted or deleted plus a counter event, in one transaction).
#   bench/http/like_action.sh [DURATION] [CONNECTIONS]
source "$(dirname "$0")/lib.sh"
duration=${1:-20s}
conns=${2:-64}
like_setup "$conns"
header "-t1 -c$conns -d$duration"
echo "## POST /like/action (like/unlike cycling over 200 videos x $conns users)"
wrk -t1 -c"$conns" -d"$duration" --latency -s "$lua" "$gw"
