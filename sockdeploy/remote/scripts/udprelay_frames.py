# The frames both UDP relay programs speak on stdin/stdout (python3 3.6+, standard library only).
# Frame: 2-byte client id, 2-byte length, the datagram (network byte order).
# The relay programs receive this file's text as their first argument and run it.
import os
import struct

HEADER = struct.Struct("!HH")


class FrameReader(object):
    """Cut what arrives on a file descriptor into whole frames."""

    def __init__(self, fd):
        self.fd = fd
        self.pending = b""

    def read(self):
        """Read once; return the (id, datagram) frames completed, or None at end of file."""
        data = os.read(self.fd, 65536)
        if not data:
            return None
        buf, done = self.pending + data, []
        while len(buf) >= HEADER.size:
            cid, size = HEADER.unpack(buf[:HEADER.size])
            if len(buf) < HEADER.size + size:
                break
            done.append((cid, buf[HEADER.size:HEADER.size + size]))
            buf = buf[HEADER.size + size:]
        self.pending = buf
        return done


def write_frame(fd, cid, datagram):
    """Write one whole frame to fd."""
    frame = HEADER.pack(cid, len(datagram)) + datagram
    while frame:
        frame = frame[os.write(fd, frame):]
