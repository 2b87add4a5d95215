"""The UDP relay's frames: 2-byte client id, 2-byte length, the datagram (network byte order).

The relay programs on the hosts (remote/scripts/udprelay_frames.py) speak the same format.
"""

from __future__ import annotations

import struct
from typing import List, Tuple

HEADER = struct.Struct("!HH")
MAX_DATAGRAM = 0xFFFF


def pack(client_id: int, datagram: bytes) -> bytes:
    """Return the frame that carries `datagram` for `client_id`."""
    return HEADER.pack(client_id, len(datagram)) + datagram


class FrameReader:
    """Cut a byte stream into whole frames, keeping any partial frame for the next feed."""

    def __init__(self) -> None:
        self._pending = b""

    def feed(self, data: bytes) -> List[Tuple[int, bytes]]:
        """Add `data`; return the (client id, datagram) frames it completes, in order."""
        buf = self._pending + data
        done: List[Tuple[int, bytes]] = []
        while len(buf) >= HEADER.size:
            client_id, size = HEADER.unpack_from(buf)
            end = HEADER.size + size
            if len(buf) < end:
                break
            done.append((client_id, buf[HEADER.size:end]))
            buf = buf[end:]
        self._pending = buf
        return done

    @property
    def pending(self) -> int:
        """How many bytes of an unfinished frame are waiting."""
        return len(self._pending)
