#!/bin/sh
# Method 2: the studio's manual procedure for exercise 5 through an SSH tunnel,
# scripted faithfully: one ssh/scp per step, so every step is a new SSH connection
# (a new login). bench/run.py sets the variables below and runs this on the Pi.
#
#   SSH_CONFIG  ssh_config with a "Host $HOST" entry (key, known_hosts, address)
#   HOST        the login host's alias in SSH_CONFIG
#   SRC         folder with server.c and client.c
#   RDIR        folder to create on the login host (must not exist yet)
#   WORK        local folder for the client and the logs
#   PORT        the course port to use
#   SERVER_BUILD, CLIENT_BUILD  the payload's gcc command lines
set -eu
cd "$WORK"

# 1. copy the sources to the login host (scp -r creates the folder)
scp -q -F "$SSH_CONFIG" -r "$SRC" "$HOST:$RDIR"

# 2. compile the server on the login host
ssh -F "$SSH_CONFIG" "$HOST" "cd '$RDIR' && $SERVER_BUILD"

# 3. open the tunnel: port $PORT here leads to port $PORT on the login host
ssh -F "$SSH_CONFIG" -f -N -o ExitOnForwardFailure=yes -L "$PORT:localhost:$PORT" "$HOST" >tunnel.log 2>&1

# 4. start the server, its output to a log there; return once it listens
#    (what a person sees in terminal 1 before switching to terminal 2)
ssh -F "$SSH_CONFIG" "$HOST" "cd '$RDIR' && { nohup ./server $PORT >server.log 2>&1 </dev/null & } && \
  i=0; until grep -q '^listening on port' server.log 2>/dev/null; do i=\$((i+1)); [ \$i -lt 200 ] || exit 1; sleep 0.02; done"

# 5. compile the client here and run it twice through the tunnel
cp "$SRC/client.c" .
$CLIENT_BUILD
./client 127.0.0.1 "$PORT" >client-1.log 2>&1
./client 127.0.0.1 "$PORT" quit >client-2.log 2>&1

# 6. copy the server's log back
scp -q -F "$SSH_CONFIG" "$HOST:$RDIR/server.log" server.log

# 7. close the tunnel (the pattern is this run's own command line: unique config path and port)
pkill -f "^ssh -F $SSH_CONFIG -f -N -o ExitOnForwardFailure=yes -L $PORT:localhost:$PORT "
