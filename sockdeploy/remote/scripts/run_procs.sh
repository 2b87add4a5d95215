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

# Print the pids of the live processes (not zombies) in process group $1, of any user.
group_pids() {
  # through cat: mawk gives up on a file that vanished after the glob, cat goes on
  cat /proc/[0-9]*/stat 2>/dev/null | awk -v g="$1" '{ p = $1; sub(/^.*\) /, ""); if ($3 == g && $1 != "Z") print p }'
}

# Print the inodes of the sockets processes $@ hold (their pids), space-separated; those of
# another user's processes only to root.
socket_inodes() {
  for sw_fdp in "$@"; do shift; set -- "$@" "/proc/$sw_fdp/fd"; done
  [ $# -gt 0 ] || return 0
  # shellcheck disable=SC2012  # fd entries are numbers; ls -l shows every link's target in one process
  ls -l "$@" 2>/dev/null | sed -n 's/.*-> socket:\[\([0-9]*\)\]$/\1/p' | tr '\n' ' '
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

# A run folder is sockdeploy's when it is a directory (not a link) of this user with mode 0700 and
# holds the marker file .sockdeploy-run, a regular file of this user naming the machine the run
# belongs to (machine_id). Its watchdog touches .sockdeploy-alive every few seconds (the heartbeat);
# .sockdeploy-keep marks a folder kept with --keep-remote; .sockdeploy-token holds the run's token
# (keep_token). Names beginning with .sockdeploy are sockdeploy's own, like the pid and log files
# control_names lists: an upload never supplies one.

# Print the names of the files sockdeploy keeps in a run folder beside the sources (CONTROL_NAMES
# and CONTROL_PIECE in spec/sources.py), then the patterns of the capped log's pieces and its hidden ones.
control_names() {
  printf '%s\n' server.pid client.pid lifeline.pid watchdog.pid server.log server.times server.status \
    log.closed server.cut 'server.log.[0-9]*' 'server.times.[0-9]*' '.sockdeploy*'
}

# Print the first name in the current folder that only sockdeploy may write but an upload supplied
# (the marker .sockdeploy-run is made before the upload, which tar -k keeps from replacing it).
planted_control() {
  for sw_n in $(control_names); do
    [ "$sw_n" = .sockdeploy-run ] && continue
    if [ -e "$sw_n" ] || [ -L "$sw_n" ]; then printf '%s\n' "$sw_n"; return 0; fi
  done
  return 1
}

# Print this machine's identity for a run folder's marker. A pool of login hosts behind one name
# shares one home directory, and a run's processes can be seen only from the machine, the boot and
# the pid namespace that started them.
machine_id() {
  printf 'host %s\nboot %s\npidns %s\n' "$(uname -n)" "$(cat /proc/sys/kernel/random/boot_id 2>/dev/null)" \
    "$(readlink "/proc/$$/ns/pid" 2>/dev/null)"
}

# True when the marker $1 names this machine (and this machine knows its boot id).
same_machine() {
  [ -n "$(cat /proc/sys/kernel/random/boot_id 2>/dev/null)" ] &&
    [ "$(machine_id)" = "$(grep -E '^(host|boot|pidns) ' "$1" 2>/dev/null)" ]
}

# True when $1 is a directory (not a link) that this user owns with mode 0700 (a set-group-ID bit
# inherited from the parent is harmless).
dir_private() {
  # shellcheck disable=SC2012
  ls -ldn -- "$1" 2>/dev/null | awk -v u="$(id -u)" 'NR == 1 { ok = $3 == u && $1 ~ /^drwx--[-S]---/ } END { exit !ok }'
}

# True when $1 is a regular file (not a link) that this user owns.
file_ours() {
  # shellcheck disable=SC2012
  ls -ldn -- "$1" 2>/dev/null | awk -v u="$(id -u)" 'NR == 1 { ok = $3 == u && $1 ~ /^-/ } END { exit !ok }'
}

# Print the inode number of $1.
inode_of() {
  # shellcheck disable=SC2012
  ls -di -- "$1" 2>/dev/null | awk '{ print $1; exit }'
}

# Print when file $1 was last changed, in seconds since the epoch (empty when unknown).
mtime_of() {
  date -r "$1" +%s 2>/dev/null
}

# Print when process $1 started, in whole seconds since the epoch (empty when unknown): its start
# in clock ticks after boot (/proc/PID/stat field 22) plus the boot time. btime is truncated to
# the second, so this may be up to a second early.
proc_start() {
  sw_t=$(awk '{ sub(/^.*\) /, ""); print $20 }' "/proc/$1/stat" 2>/dev/null)
  sw_b=$(awk '$1 == "btime" { print $2 }' /proc/stat 2>/dev/null)
  sw_hz=$(getconf CLK_TCK 2>/dev/null) || sw_hz=100
  case $sw_t$sw_b$sw_hz in ''|*[!0-9]*) return 0 ;; esac
  [ -n "$sw_t" ] && [ -n "$sw_b" ] && echo $((sw_b + sw_t / sw_hz))
}

# True when process $1 is this user's (its real uid).
proc_mine() {
  [ "$(awk '$1 == "Uid:" { print $2 }' "/proc/$1/status" 2>/dev/null)" = "$(id -u)" ]
}

# True when process $1 carries, in its environment, the token of the run whose folder is $2
# (run_token). A folder without a token (a run that started neither server nor client, one of an
# older sockdeploy, a host without /proc environments) leaves the other checks to decide.
pid_carries_token() {
  sw_tok=$(run_token "$2")
  [ -n "$sw_tok" ] || return 0
  # matched in the shell: as an argument to grep or awk the token would show in ps
  tr '\0' '\n' < "/proc/$1/environ" 2>/dev/null | {
    while IFS= read -r sw_l; do case $sw_l in "SOCKDEPLOY_RUN="*":$sw_tok") exit 0 ;; esac; done
    exit 1
  }
}

# True when process group $1, named by a pid file of the run folder $3 made at $2 (seconds since
# the epoch), may be signalled: a number above 1, not this script's own group, and every live
# process in it is this user's, started after the folder was made (a second's slack for rounding)
# and carries the run's token. A planted or stale pid file must never make sockdeploy signal
# another user's processes, the user's other programs, or itself.
group_ours() {
  case $1/$2 in /*|*/|*[!0-9/]*) return 1 ;; esac
  if [ "$1" -le 1 ] || [ -z "$2" ] || [ ! -r /proc/self/stat ]; then return 1; fi
  [ "$1" = "$(awk '{ sub(/^.*\) /, ""); print $3 }' "/proc/$$/stat" 2>/dev/null)" ] && return 1
  sw_members=$(group_pids "$1")
  [ -n "$sw_members" ] || return 1
  for sw_p in $sw_members; do
    sw_s=$(proc_start "$sw_p")
    if ! proc_mine "$sw_p" || [ -z "$sw_s" ] || [ $((sw_s + 1)) -lt "$2" ] || ! pid_carries_token "$sw_p" "$3"; then
      return 1
    fi
  done
}

# True when run folder $1 is over; $2: minutes without a heartbeat after which a run is over
# wherever it ran (the server's lifetime cap plus a margin). A run of this machine is over at once
# when its watchdog is gone (no process of this user that started after the folder runs under its
# pid); a run without a watchdog yet may be starting right now. Another machine's watchdog cannot
# be seen from here, so its runs are over only once neither heartbeat nor marker changed for $2.
run_over() {
  [ -z "$(find "$1/.sockdeploy-alive" "$1/.sockdeploy-run" -prune -mmin -"$2" 2>/dev/null)" ] && return 0
  if ! same_machine "$1/.sockdeploy-run" || [ ! -f "$1/lifeline.pid" ]; then return 1; fi
  # lifeline.pid: the watchdog's pid file keeps its old name, which older runs' folders carry too
  sw_w=$(cat "$1/lifeline.pid" 2>/dev/null)
  case $sw_w in ''|*[!0-9]*) return 0 ;; esac
  if ! pid_alive "$sw_w" || ! proc_mine "$sw_w"; then return 0; fi
  sw_s=$(proc_start "$sw_w"); sw_m=$(mtime_of "$1/.sockdeploy-run")
  # a pid reused by a process older than the run is not its watchdog
  [ -n "$sw_s" ] && [ -n "$sw_m" ] && [ $((sw_s + 1)) -lt "$sw_m" ]
}

# Remove earlier runs under $1 that are over (run_over, with $2 its minutes), stopping the
# process groups their pid files name when the run was this machine's and group_ours allows.
# Only this user's run folders are touched (see the top), never one kept with --keep-remote.
# Prints "SD-CLEANED DIR" for each folder removed.
sweep_stale() {
  for sw_old in "$1"/run-*; do
    if ! dir_private "$sw_old" || ! file_ours "$sw_old/.sockdeploy-run" || [ -e "$sw_old/.sockdeploy-keep" ]; then
      continue
    fi
    run_over "$sw_old" "$2" || continue
    sw_made=$(mtime_of "$sw_old/.sockdeploy-run")
    # another machine's pid files name processes there: the same numbers here are someone else
    if same_machine "$sw_old/.sockdeploy-run"; then
      for sw_f in server.pid client.pid; do
        sw_pg=$(cat "$sw_old/$sw_f" 2>/dev/null) || continue
        group_ours "$sw_pg" "$sw_made" "$sw_old" && kill -KILL -"$sw_pg" 2>/dev/null
      done
      # and what left those groups (daemons): only processes carrying the run's token
      stop_tagged "$(run_token "$sw_old")" "" "" >/dev/null
    fi
    rm -rf -- "$sw_old" && echo "SD-CLEANED $sw_old"
  done
}

# The run's tag. Every process a run starts carries SOCKDEPLOY_RUN=ROLE:TOKEN in its
# environment (ROLE: server, build, client-N), and an environment survives setsid and
# double forks, where a process group does not. The token arrives as the first line of
# stdin, never on a command line, where ps would show it to every user of the host.

# Print the token read from the first line of stdin (hex only; anything else: none).
# `tok=$(read_token)` consumes that line alone: sh reads a pipe byte by byte.
read_token() {
  IFS= read -r line || :
  case $line in *[!0-9a-f]*) ;; *) printf '%s\n' "$line" ;; esac
}

# Keep token $1 in the run folder (the current folder) for the sweep of crashed runs
# (pid_carries_token), readable by this user only; not on a host without /proc environments,
# where no process could be told by it.
keep_token() {
  [ -n "$1" ] && [ -r "/proc/$$/environ" ] || return 0
  (umask 077 && printf '%s\n' "$1" > .sockdeploy-token)
}

# Print the token kept in run folder $1 (keep_token): a file of this user, hex only; else nothing.
run_token() {
  file_ours "$1/.sockdeploy-token" || return 0
  sw_t=$(head -n 1 "$1/.sockdeploy-token" 2>/dev/null)
  case $sw_t in ''|*[!0-9a-f]*) ;; *) printf '%s\n' "$sw_t" ;; esac
}

# Print the pids of this user's processes that carry token $1 with a role that $2 matches (an
# extended regular expression such as build|client-[0-9]+; any role when empty).
tagged_pids() {
  [ -n "$1" ] || return 0
  pat="SOCKDEPLOY_RUN=(${2:-[a-z0-9-]+}):$1"
  # the pattern travels on stdin: as an argument, ps would show the token
  files=$(printf '%s\n' "$pat" | grep -E -l -f /dev/stdin /proc/[0-9]*/environ 2>/dev/null | sed 's|environ$|status|')
  [ -n "$files" ] || return 0
  # only this user's: root reads every environment. /dev/null makes grep name the file even for one.
  # shellcheck disable=SC2086  # $files: /proc paths, split on purpose
  grep '^Uid:' $files /dev/null 2>/dev/null | awk -v u="$(id -u)" '$2 == u { split($1, a, "/"); print a[3] }'
}

# Print "SD-STRAY PID ROLE COMMAND" for process $1: a process of the run left running.
report_stray() {
  role=$(tr '\0' '\n' < "/proc/$1/environ" 2>/dev/null | grep '^SOCKDEPLOY_RUN=' | head -n 1)
  role=${role#SOCKDEPLOY_RUN=}; role=${role%%:*}
  cmd=$(tr '\0\n\t' '   ' < "/proc/$1/cmdline" 2>/dev/null | tr -cd '[:print:]' | cut -c 1-120)
  echo "SD-STRAY $1 ${role:-run} ${cmd:-?}"
}

# Stop every process of token $1 and a role $2 matches (any when empty) outside process group $3 (none
# when empty; that group is stopped on its own): report each (report_stray), TERM, up to 2 s, KILL.
stop_tagged() {
  found=$(tagged_pids "$1" "$2")
  pids=
  for p in $found; do
    g=$(awk '{ sub(/^.*\) /, ""); print $3 }' "/proc/$p/stat" 2>/dev/null)
    [ -n "$3" ] && [ "$g" = "$3" ] && continue
    report_stray "$p"
    pids="$pids $p"
  done
  [ -n "$pids" ] || return 0
  # shellcheck disable=SC2086  # $pids: numbers, split on purpose
  kill -TERM $pids 2>/dev/null
  j=0
  while [ "$j" -lt 40 ]; do
    left=
    for p in $pids; do pid_alive "$p" && { left=1; break; }; done
    [ -z "$left" ] && return 0
    sleep 0.05; j=$((j+1))
  done
  # looked up again: only what still carries the token is killed, never a reused pid
  for p in $(tagged_pids "$1" "$2"); do
    case " $pids " in *" $p "*) kill -KILL "$p" 2>/dev/null ;; esac
  done
  return 0
}
