"""What the run folder keeps once the run has ended: timeline.txt, server.log, run.json, transcript.md."""

from __future__ import annotations

from sockdeploy.output import timeline
from sockdeploy.run.context import RunContext
from sockdeploy.run.record import TimelineRecord


def short_label(filename: str) -> str:
    """server.log -> "server", client-2.log -> "client 2"."""
    return filename.rsplit(".", 1)[0].replace("-", " ")


def write_timeline(ctx: RunContext) -> None:
    """Interleave every terminal's lines on one clock: timeline.txt (and its part of transcript.md)."""
    logs = [log for log in ctx.folder.logs if log.times]
    if not logs:
        return
    offset = ctx.clock.offset() if ctx.clock is not None else None
    remote = any(log.remote for log in logs)
    if not remote:
        offset = None
    sources = [timeline.Source(short_label(log.filename), log.output, log.times, log.remote) for log in logs]
    entries = timeline.merge(sources, offset)
    note = timeline.clock_note(offset, ctx.record.server.host if remote else None)
    ctx.folder.write_timeline(timeline.render(entries, note))
    ctx.record.timeline = TimelineRecord(file="timeline.txt", lines=len(entries), clock=offset.to_dict() if offset else None)


def save(ctx: RunContext) -> None:
    """Write the timeline, the server's log, run.json and transcript.md, shielded from Ctrl-C."""
    with ctx.hold.shielded():
        try:
            write_timeline(ctx)
        except (OSError, ValueError) as exc:  # the logs themselves are already safe
            ctx.progress.info(f"warning: no timeline ({exc})")
    with ctx.hold.shielded():
        if ctx.server.log is not None:
            ctx.folder.write_log(ctx.server.log)
        ctx.folder.write_json(ctx.record)
        ctx.folder.write_transcript(ctx.record, ctx.payload.description)
