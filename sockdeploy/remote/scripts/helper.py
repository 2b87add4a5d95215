# sockdeploy remote helper: runs each script sent over stdin, one at a time, and sends back its result.
# Started by helper_launch.sh as `python3 -S -c PROGRAM NONCE`; plain Python 3.5 (no f-strings),
# standard library only. Frames are described in sockdeploy/ssh/helper.py.
import os
import select
import signal
import struct
import subprocess
import sys
import threading

IN, OUT = 0, 1
pending = bytearray()


def fill(n: int) -> None:
    """Read stdin until `n` bytes are pending; end of file ends the helper."""
    while len(pending) < n:
        chunk = os.read(IN, 65536)
        if not chunk:
            sys.exit(0)
        pending.extend(chunk)


def take(n: int) -> bytes:
    fill(n)
    data = bytes(pending[:n])
    del pending[:n]
    return data


def take_large(n: int) -> bytearray:
    """Read `n` bytes (a script's stdin, up to the upload limit) into one buffer, copying each byte once."""
    buf = bytearray(n)
    view = memoryview(buf)
    got = min(n, len(pending))
    view[:got] = pending[:got]
    del pending[:got]
    while got < n:
        chunk = os.read(IN, min(n - got, 1 << 20))
        if not chunk:
            sys.exit(0)  # cut short: the script never runs, so nothing of it is left behind
        view[got:got + len(chunk)] = chunk
        got += len(chunk)
    return buf


def send(data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(OUT, view):]


def drain(fd: int, acc: list) -> None:
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            return
        if not chunk:
            return
        acc.append(chunk)


def execute(script: str, data: bytes, proc_box: list, result: list, wake_w: int) -> None:
    """Run `script` in a session of its own; put (status, stdout, stderr) into `result`, then wake the main loop."""
    out, err = [], []  # type: list, list
    proc = subprocess.Popen(["/bin/sh", "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)
    proc_box.append(proc)
    pipes = [(proc.stdout, out), (proc.stderr, err)]
    readers = [threading.Thread(target=drain, args=(pipe.fileno(), acc)) for pipe, acc in pipes if pipe is not None]
    for t in readers:
        t.daemon = True
        t.start()
    try:
        if proc.stdin is not None:
            if data:
                proc.stdin.write(data)
            proc.stdin.close()
    except OSError:
        pass
    status = proc.wait()
    # like sshd: the status counts, not a background process still holding the pipes
    for t in readers:
        t.join(0.2)
    result.append((status, b"".join(out), b"".join(err)))
    os.write(wake_w, b"x")


def stop(proc_box: list) -> None:
    if proc_box:
        try:
            os.killpg(proc_box[0].pid, signal.SIGKILL)
        except OSError:
            pass


def serve_one(wake_r: int, wake_w: int) -> None:
    """Read one request, run it (stopping it on "c" or end of file), send its response."""
    slen, ilen = struct.unpack(">II", take(8))
    script = take(slen).decode("utf-8", "surrogateescape")
    data = take_large(ilen)
    proc_box, result = [], []  # type: list, list
    worker = threading.Thread(target=execute, args=(script, data, proc_box, result, wake_w))
    worker.daemon = True
    worker.start()
    while not result:
        ready = select.select([IN, wake_r], [], [])[0]
        if IN in ready:
            chunk = os.read(IN, 65536)
            if not chunk:
                stop(proc_box)
                sys.exit(0)
            if b"c" in chunk:
                stop(proc_box)
        if wake_r in ready:
            os.read(wake_r, 1)
    status, out, err = result[0]
    send(struct.pack(">iII", status, len(out), len(err)) + out + err)


def main() -> None:
    os.umask(0o077)
    wake_r, wake_w = os.pipe()
    send(b"\n" + sys.argv[1].encode() + b"\n")  # the greeting: what the login shell printed before it is skipped
    while True:
        serve_one(wake_r, wake_w)


if __name__ == "__main__":
    main()
