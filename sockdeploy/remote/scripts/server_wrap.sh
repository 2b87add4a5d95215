#!/bin/sh
# Run the server command $1 in this process group; after $2 seconds kill the whole group.
# Writes the server's exit status to server.status, then stops what is left of the group
# (TERM: the stamper ignores it and finishes writing the log).
/bin/sh -c "$1" & c=$!
(sleep "$2"; kill -KILL 0) &
wait "$c"; s=$?
echo "$s" > server.status
kill -TERM 0
