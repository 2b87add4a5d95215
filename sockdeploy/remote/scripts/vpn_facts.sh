#!/bin/sh
# What the VPN checks look at on this host, as marker lines:
#   SD-PID pid    for each openconnect process
#   SD-TUN name   for each tun/tap device that is up
#   SD-DEV name   the device the route to SERVER_IP goes through (only with SERVER_IP)
# Usage: vpn_facts.sh [SERVER_IP]
# SD_PROC_DIR and SD_SYSNET_DIR replace /proc and /sys/class/net (for tests).
proc=${SD_PROC_DIR:-/proc}
sysnet=${SD_SYSNET_DIR:-/sys/class/net}
for p in "$proc"/[0-9]*; do
  [ "$(cat "$p/comm" 2>/dev/null)" = openconnect ] && echo "SD-PID ${p##*/}"
done
for d in "$sysnet"/*; do
  [ -e "$d/tun_flags" ] || continue
  f=$(cat "$d/flags" 2>/dev/null) || continue
  [ $(( f & 1 )) -eq 1 ] && echo "SD-TUN ${d##*/}"  # IFF_UP
done
if [ -n "${1:-}" ]; then
  { ip route get "$1" 2>/dev/null || /sbin/ip route get "$1" 2>/dev/null; } |
    sed -n 's/.* dev \([^ ]*\).*/SD-DEV \1/p' | head -n 1
fi
exit 0
