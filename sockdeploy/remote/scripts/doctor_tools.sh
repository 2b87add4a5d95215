#!/bin/sh
# Say which tools this host has and which ports are in use (for sockdeploy doctor).
# Usage: doctor_tools.sh TOOL...
# Prints "SD-HAVE tool path" or "SD-MISSING tool" for each TOOL, "SD-GCC version"
# when gcc runs, then "SD-PORTS" followed by the socket tables (/proc/net/*,
# else netstat -an) up to the end. Always exits 0: the lines are the answer.
for tool in "$@"; do
  if path=$(command -v "$tool" 2>/dev/null); then
    echo "SD-HAVE $tool $path"
  else
    echo "SD-MISSING $tool"
  fi
done
version=$(gcc --version 2>/dev/null | head -n 1)
[ -n "$version" ] && echo "SD-GCC $version"
echo "SD-PORTS"
cat /proc/net/tcp /proc/net/tcp6 /proc/net/udp /proc/net/udp6 2>/dev/null || netstat -an 2>/dev/null
exit 0
