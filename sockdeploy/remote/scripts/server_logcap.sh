#!/bin/sh
# Without python3: run the server command ("$2"...) with its output into a pipe and keep the
# head and tail of it as server_stamper.py does (see there), without line times.
# $1: HEAD,PIECE,LINES (bytes of the head, bytes of each later piece; lines are not counted here)
# Copies with dd in reads of at most 64 KiB, never past a piece's size. Ends when the output
# does, then creates log.closed. A TERM to the group stops the server, not the copy.
head=${1%%,*}
rest=${1#*,}
piece=${rest%%,*}
shift
# A caught (not ignored) TERM: the server's side of the pipe gets the default action back.
trap : TERM
"$@" 2>&1 | {
  trap '' TERM
  file=server.log; limit=$head; size=0; k=0; elided=0
  while :; do
    room=$((limit - size))
    if [ "$room" -le 0 ]; then
      k=$((k + 1))
      if [ "$k" -ge 3 ]; then elided=$((elided + $(wc -c < "server.log.$((k - 2))"))); fi
      # the count first: a copy killed in between leaves a log that joins truly
      printf '%s %s\n' "$elided" "$k" > server.cut.tmp && mv -f server.cut.tmp server.cut
      if [ "$k" -ge 3 ]; then rm -f "server.log.$((k - 2))"; fi
      file=server.log.$k; : > "$file"; limit=$piece; size=0; room=$piece
    fi
    if [ "$room" -ge 65536 ]; then
      dd bs=65536 count=$((room / 65536)) >> "$file" 2>/dev/null
    else
      dd bs="$room" count=1 >> "$file" 2>/dev/null
    fi
    now=$(($(wc -c < "$file")))
    [ "$now" -gt "$size" ] || break  # nothing more: the output has ended
    size=$now
  done
}
: > log.closed
