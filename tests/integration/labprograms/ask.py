"""Send TEXT to 127.0.0.1:PORT and print the reply."""

import socket
import sys

c = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
c.sendall(sys.argv[2].encode())
print(c.recv(100).decode())
