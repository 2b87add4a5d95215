"""Serve TCP PORT on every address: answer each connection's first message in upper case."""

import socket
import sys

s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1])))
s.listen()
while True:
    c, _ = s.accept()
    c.sendall(c.recv(100).upper())
    c.close()
