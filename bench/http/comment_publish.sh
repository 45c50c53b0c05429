#!/usr/bin/env bash
# Load figure for POST /comment/publish (release `fanone standalone`): CONNECTIONS
# users comment on 200 videos in turn (every request stores a comment and a counter
# event in one transaction, and invalidates the video's cached counts).
#   bench/http/comment_publish.sh [DURATION] [CONNECTIONS]
source "$(dirname "$0")/lib.sh"
duration=${1:-20s}
conns=${2:-64}
like_setup "$conns" # the videos and the users; its wrk script is replaced below
lua=$bench_dir/comment.lua
sed -e 's|"/like/action"|"/comment/publish"|' \
    -e 's|"video_id=" .. vid .. "&action_type=" .. action|"video_id=" .. vid .. "\&content=load+test+comment+" .. n|' \
    "$bench_dir/like.lua" >"$lua"
grep -q '/comment/publish' "$lua" || { echo "bench: could not derive the comment script" >&2; exit 1; }
header "-t1 -c$conns -d$duration"
echo "## POST /comment/publish (short comments over 200 videos x $conns users)"
wrk -t1 -c"$conns" -d"$duration" --latency -s "$lua" "$gw"
