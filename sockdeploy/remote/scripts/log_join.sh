#!/bin/sh
# Join a capped log (loaded in front of the programs that print or remove one). A log written by
# server_stamper.py or server_logcap.sh is the head $1.log, the count file $1.cut
# ("ELIDED NEWEST": bytes dropped, number of the newest piece) once the head is full, and the
# pieces $1.log.K of which NEWEST-1 and NEWEST are kept; $1.times and $1.times.K hold one
# line time per line of each piece (none without python3).

# Print the number in file $1's first field $2 (1 or 2), or 0.
cut_field() {
  v=$(awk -v f="$2" 'NR == 1 { print $f }' "$1" 2>/dev/null)
  case $v in '' | *[!0-9]*) echo 0 ;; *) echo "$v" ;; esac
}

# True when file $1 is not empty and does not end with a newline (its last line is unfinished).
open_line() {
  [ -s "$1" ] && [ $(($(tail -c 1 "$1" | wc -l))) -eq 0 ]
}

# Print the numbers of the kept pieces of log $1, oldest first.
kept_pieces() {
  [ -f "$1.cut" ] || return 0
  n=$(cut_field "$1.cut" 2)
  if [ "$n" -ge 2 ]; then echo $((n - 1)); fi
  if [ "$n" -ge 1 ]; then echo "$n"; fi
}

# Print the bytes of log $1 that were left out (0 when none).
elided_bytes() {
  if [ -f "$1.cut" ]; then cut_field "$1.cut" 1; else echo 0; fi
}

# Print log $1 as kept: the head, then the note "[... N bytes elided ...]" when pieces were
# dropped (on a line of its own), then the kept pieces.
kept_log() {
  cat -- "$1.log" 2>/dev/null
  e=$(elided_bytes "$1")
  if [ "$e" -gt 0 ]; then
    if open_line "$1.log"; then echo; fi
    echo "[... $e bytes elided ...]"
  fi
  for k in $(kept_pieces "$1"); do cat -- "$1.log.$k" 2>/dev/null || :; done
}

# Print one time per line of kept_log's output: the head's, one for the note (when the first
# kept piece's first line began), the pieces'. A line cut between two pieces printed one after
# the other is one line: the later piece's time for it is left out.
kept_times() {
  [ -f "$1.times" ] || return 0
  cat -- "$1.times"
  prev=$1.log
  if [ "$(elided_bytes "$1")" -gt 0 ]; then
    first=
    for k in $(kept_pieces "$1"); do
      [ -z "$first" ] && first=$(head -n 1 "$1.times.$k" 2>/dev/null)
    done
    [ -n "$first" ] || first=$(tail -n 1 "$1.times")
    echo "$first"
    prev=
  fi
  for k in $(kept_pieces "$1"); do
    if [ -n "$prev" ] && open_line "$prev"; then
      sed 1d "$1.times.$k" 2>/dev/null || :
    else
      cat -- "$1.times.$k" 2>/dev/null || :
    fi
    prev=$1.log.$k
  done
}

# Remove log $1: the head, the kept pieces, their times, the count.
remove_log() {
  for k in $(kept_pieces "$1"); do rm -f -- "$1.log.$k" "$1.times.$k"; done
  rm -f -- "$1.log" "$1.times" "$1.cut"
}
