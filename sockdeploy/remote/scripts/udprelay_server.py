# The UDP relay next to the server (python3 3.6+, standard library only).
# Usage: python3 -u udprelay_server.py FRAMES_SOURCE PORT
# Each client id gets a UDP socket of its own connected to 127.0.0.1:PORT, so the
# server's replies go back, framed with that id, to the client that asked.
# Prints "R" once ready; usage errors go to stderr with exit status 2.
import os
import select
import socket
import sys


def load_frames(source):
    """Run the shared frame code (udprelay_frames.py, passed as text) and return its namespace."""
    names = {}  # type: dict
    exec(compile(source, "udprelay_frames.py", "exec"), names)
    return names


def main(argv):
    if len(argv) != 3 or not argv[2].isdigit() or not 0 < int(argv[2]) < 65536:
        sys.stderr.write("udprelay_server: usage: udprelay_server.py FRAMES_SOURCE PORT (1-65535)\n")
        return 2
    frames = load_frames(argv[1])
    reader, write_frame = frames["FrameReader"](0), frames["write_frame"]
    port = int(argv[2])
    socks = {}  # type: dict
    owner = {}  # type: dict
    os.write(1, b"R")
    while True:
        ready, _, _ = select.select([0] + list(socks.values()), [], [])
        if 0 in ready:
            got = reader.read()
            if got is None:
                return 0
            for cid, datagram in got:
                s = socks.get(cid)
                if s is None:
                    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                    s.connect(("127.0.0.1", port))
                    socks[cid], owner[s.fileno()] = s, cid
                try:
                    s.send(datagram)
                except OSError:
                    pass  # nothing listens (yet): UDP loses it, as it would without the relay
        for sock in ready:
            if sock == 0:
                continue
            try:
                datagram = sock.recv(65535)
            except OSError:
                continue  # the ICMP "port unreachable" of an earlier send
            write_frame(1, owner[sock.fileno()], datagram)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
