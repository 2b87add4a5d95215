#!/bin/sh
# Process helpers shared by sockdeploy's host programs (loaded in front of them).

# True while any non-zombie process is in process group $1; zombies wait for
# init to reap them and must not count as a running server.
group_alive() {
  if [ -r /proc/self/stat ]; then
    # through cat: mawk gives up on a file that vanished after the glob, cat goes on
    cat /proc/[0-9]*/stat 2>/dev/null | awk -v g="$1" '{ sub(/^.*\) /, ""); if ($3 == g && $1 != "Z") f = 1 } END { exit !f }'
  else
    kill -0 -"$1" 2>/dev/null
  fi
}

# True while process $1 runs; a zombie awaiting its parent does not count.
pid_alive() {
  if [ -r "/proc/$1/stat" ]; then
    awk '{ sub(/^.*\) /, ""); exit ($1 == "Z") }' "/proc/$1/stat" 2>/dev/null
  else
    kill -0 "$1" 2>/dev/null
  fi
}

# The stamper (pid $1) may still be writing the server's last lines after the
# server ended, later still on a busy host: wait while it runs, 10 s at most.
await_log() {
  j=0
  while [ ! -f log.closed ] && [ "$j" -lt 400 ] && pid_alive "$1"; do sleep 0.025; j=$((j+1)); done
}

# Print path $1 with a leading ~ meaning $HOME (values arrive unexpanded, as typed in hosts.yaml).
home_path() {
  case $1 in
    \~) printf '%s\n' "$HOME" ;;
    \~/*) printf '%s/%s\n' "$HOME" "${1#\~/}" ;;
    *) printf '%s\n' "$1" ;;
  esac
}

# Remove earlier runs under $1 whose watchdog is gone (crashed runs); $2 is the
# server's absolute lifetime in minutes. Only folders carrying sockdeploy's
# marker file are touched. A run counts as dead when its watchdog process is
# gone, or when it never got one and is older than that lifetime.
sweep_stale() {
  for old in "$1"/run-*; do
    [ -f "$old/.sockdeploy-run" ] || continue
    # lifeline.pid: the watchdog's pid file keeps its old name, which older runs' folders carry too
    if [ -f "$old/lifeline.pid" ]; then
      pid_alive "$(cat "$old/lifeline.pid")" && continue
    elif [ -z "$(find "$old/.sockdeploy-run" -mmin +"$2" 2>/dev/null)" ]; then
      continue
    fi
    for f in server.pid client.pid; do
      if pg=$(cat "$old/$f" 2>/dev/null) && [ -n "$pg" ] && group_alive "$pg"; then
        kill -KILL -"$pg" 2>/dev/null
      fi
    done
    rm -rf -- "$old" && echo "SD-CLEANED $old"
  done
}
