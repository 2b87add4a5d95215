"""Answer TCP connects and UDP datagrams on HOST PORT with "hello PEER-ADDRESS", so a test sees a packet's path."""

import socket
import sys
import threading

addr = (sys.argv[1], int(sys.argv[2]))
tcp = socket.socket()
tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
tcp.bind(addr)
tcp.listen(16)
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
udp.bind(addr)


def echo() -> None:
    while True:
        _, peer = udp.recvfrom(2048)
        udp.sendto(b"hello " + peer[0].encode(), peer)


threading.Thread(target=echo, daemon=True).start()
print("ready", flush=True)
while True:
    conn, peer = tcp.accept()
    conn.sendall(b"hello " + peer[0].encode() + b"\n")
    conn.close()
