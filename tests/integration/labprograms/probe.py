"""Try HOST PORT over tcp or udp within TIMEOUT s; print "open REPLY", "timeout" or "error WHY"."""

import socket
import sys

host, port, proto, timeout = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM)
s.settimeout(timeout)
try:
    if proto == "tcp":
        s.connect((host, port))
    else:
        s.sendto(b"ping", (host, port))
    print("open", s.recv(200).decode(errors="replace").strip())
except socket.timeout:
    print("timeout")
except OSError as exc:
    print("error", exc)
