# The client's UDP endpoint on a client host reached over SSH (python3 3.6+, standard library only).
# Usage: python3 -u udprelay_client.py FRAMES_SOURCE PORT
# Listens on 127.0.0.1:PORT (any free port when that one is busy) and frames each
# datagram with an id per client address; frames coming back go to that address.
# A new client's address is named first in a frame of id 0 ("ID IP PORT"), for the wire
# record; the joiner on the laptop keeps it and never passes it on.
# Prints "R" and the port (2 bytes) once ready; usage errors go to stderr with exit status 2.
import os
import select
import socket
import struct
import sys


def load_frames(source):
    """Run the shared frame code (udprelay_frames.py, passed as text) and return its namespace."""
    names = {}  # type: dict
    exec(compile(source, "udprelay_frames.py", "exec"), names)
    return names


def bind(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        s.bind(("127.0.0.1", 0))  # busy there: any free port (the caller reads which)
    return s


def main(argv):
    if len(argv) != 3 or not argv[2].isdigit() or not int(argv[2]) < 65536:
        sys.stderr.write("udprelay_client: usage: udprelay_client.py FRAMES_SOURCE PORT (0-65535)\n")
        return 2
    frames = load_frames(argv[1])
    reader, write_frame = frames["FrameReader"](0), frames["write_frame"]
    s = bind(int(argv[2]))
    os.write(1, b"R" + struct.pack("!H", s.getsockname()[1]))
    ids = {}  # type: dict
    addrs = {}  # type: dict
    while True:
        ready, _, _ = select.select([0, s], [], [])
        if s in ready:
            datagram, addr = s.recvfrom(65535)
            cid = ids.get(addr)
            if cid is None:
                cid = ids[addr] = len(ids) + 1
                addrs[cid] = addr
                write_frame(1, 0, ("%d %s %d" % (cid, addr[0], addr[1])).encode("ascii"))
            write_frame(1, cid, datagram)
        if 0 in ready:
            got = reader.read()
            if got is None:
                return 0
            for cid, datagram in got:
                if cid in addrs:
                    try:
                        s.sendto(datagram, addrs[cid])
                    except OSError:
                        pass  # the client went away: UDP loses it


if __name__ == "__main__":
    sys.exit(main(sys.argv))
