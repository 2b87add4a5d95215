#!/bin/sh
# Method 3: the same steps as manual.sh with OpenSSH connection sharing
# (ControlMaster/ControlPersist): the first command logs in and becomes the master,
# every later ssh/scp runs as a new session over that one connection, and the
# tunnel is added to (and removed from) the master with -O forward / -O cancel.
# The best a careful user can do by hand. Variables as in manual.sh, plus
#   CONTROL     the ControlPath socket for this run
set -eu
cd "$WORK"
# the connection-sharing options, kept as the positional parameters so each stays one word
set -- -o ControlMaster=auto -o "ControlPath=$CONTROL" -o ControlPersist=60

# 1. copy the sources (this connection becomes the master and stays)
scp -q -F "$SSH_CONFIG" "$@" -r "$SRC" "$HOST:$RDIR"

# 2. compile the server on the login host
ssh -F "$SSH_CONFIG" "$@" "$HOST" "cd '$RDIR' && $SERVER_BUILD"

# 3. the tunnel, carried by the master connection
ssh -F "$SSH_CONFIG" "$@" -O forward -L "$PORT:localhost:$PORT" "$HOST" 2>/dev/null

# 4. start the server; return once it listens
ssh -F "$SSH_CONFIG" "$@" "$HOST" "cd '$RDIR' && { nohup ./server $PORT >server.log 2>&1 </dev/null & } && \
  i=0; until grep -q '^listening on port' server.log 2>/dev/null; do i=\$((i+1)); [ \$i -lt 200 ] || exit 1; sleep 0.02; done"

# 5. compile the client here and run it twice through the tunnel
cp "$SRC/client.c" .
$CLIENT_BUILD
./client 127.0.0.1 "$PORT" >client-1.log 2>&1
./client 127.0.0.1 "$PORT" quit >client-2.log 2>&1

# 6. copy the server's log back
scp -q -F "$SSH_CONFIG" "$@" "$HOST:$RDIR/server.log" server.log

# 7. close the tunnel and the master
ssh -F "$SSH_CONFIG" "$@" -O cancel -L "$PORT:localhost:$PORT" "$HOST" 2>/dev/null
ssh -F "$SSH_CONFIG" "$@" -O exit "$HOST" 2>/dev/null
