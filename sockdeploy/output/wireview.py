"""wire.txt: the wire record as people read it, each chunk as hex and text (like `hexdump -C`)."""

from __future__ import annotations

from typing import List, Tuple

from sockdeploy.net.wire import RECEIVED, SENT, WireConnection, WireLog, unrecorded_note

WIRE_TEXT = "wire.txt"
WIRE_JSON = "wire.json"
ARROWS = {SENT: "client -> server", RECEIVED: "server -> client"}


def hex_lines(data: bytes, width: int = 16) -> List[str]:
    """Return DATA as offset, hex bytes and printable text, WIDTH bytes a line."""
    out = []
    for off in range(0, len(data), width):
        row = data[off:off + width]
        hexes = " ".join(f"{b:02x}" for b in row)
        text = "".join(chr(b) if 0x20 <= b < 0x7F else "." for b in row)
        out.append(f"  {off:08x}  {hexes:<{width * 3 - 1}}  |{text}|")
    return out


def _connection(conn: WireConnection) -> List[str]:
    run = f"client run {conn.run}" if conn.run is not None else "client run unknown"
    lines = [f"== connection {conn.id}: {run}, {conn.kind} from {conn.origin}, opened {conn.opened}",
             f"   sent {conn.totals[SENT]} bytes, received {conn.totals[RECEIVED]} bytes"]
    if conn.error:
        lines.append(f"   not carried: {conn.error}")
    items: List[Tuple[float, int, List[str]]] = []
    for n, chunk in enumerate(conn.chunks):
        head = f"+{chunk.t:.6f}  {ARROWS.get(chunk.direction, chunk.direction)}  {len(chunk.data)} bytes"
        items.append((chunk.t, n, [head] + hex_lines(chunk.data)))
    for n, (event, t) in enumerate(conn.events):
        items.append((t, len(conn.chunks) + n, [f"+{t:.6f}  {event}"]))
    for _, _, block in sorted(items, key=lambda item: (item[0], item[1])):
        lines += block
    for direction in (SENT, RECEIVED):
        if conn.cut(direction):
            lines.append(f"   note: {conn.totals[direction]} bytes {direction}; only the first {conn.kept(direction)} "
                         f"are kept ({conn.cut(direction)} cut at the {conn.cap}-byte cap)")
    return lines


def render_wire(log: WireLog) -> str:
    """Return wire.txt's text."""
    lines = [f"Wire record ({log.path}): every byte each client run sent and received, as sockdeploy saw it.",
             f"Times are seconds after each connection opened; up to {log.cap} bytes are kept per direction."]
    lines += [f"Incomplete: {unrecorded_note(run, program)} ({program}); its bytes are not here."
              for run, program in sorted(log.unrecorded.items())]
    lines.append("")
    if not log.connections:
        lines.append("No connection was carried.")
    for conn in log.connections:
        lines += _connection(conn) + [""]
    return "\n".join(lines).rstrip("\n") + "\n"
