"""Try one TCP connection to IP PORT within LIMIT seconds and print what happened.

Prints "connected", "refused", "timeout" or "unreachable REASON".
Runs on the client host's python3 (3.6 or newer), started with -S.
"""
import socket
import sys


def main():
    ip, port, limit = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    s = socket.socket(socket.AF_INET6 if ":" in ip else socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(limit)
    try:
        s.connect((ip, port))
        print("connected")
    except ConnectionRefusedError:
        print("refused")
    except socket.timeout:
        print("timeout")
    except OSError as exc:
        print("unreachable", exc.strerror or exc)


main()
