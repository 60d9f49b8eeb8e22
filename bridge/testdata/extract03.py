#!/usr/bin/env python3
"""Writes conversations/v03-<name> from transcripts03/<name>.txt: the frames of LiveStore 0.3.1's
client and of the original 0.3.1 server, socket by socket, as a datadriven script for
TestConversations (conversation_test.go). Frames are merged in the order of their timestamps:
a socket is dialled when it opened and closed when the client or harness closed it, client frames become `send`, server frames `expect`.
Pings and Pongs are left out (their order against other frames depends on timing) except in
`ping`. The scripts are then edited by hand where our server differs or where the original's
order depended on timing; run this only to start over:

    python3 testdata/extract03.py <name>...
"""
import re
import sys
import urllib.parse
from pathlib import Path

here = Path(__file__).parent
frame_re = re.compile(r"^\s+([\d.]+) (C->S|S->C) (.*)$")
truncated_re = re.compile(r" …\[\d+ chars in all\]… ")
created_re = re.compile(r'"createdAt":"[^"]*"')
sock_re = re.compile(r"^== socket #(\d+) (\S+)")
life_re = re.compile(r"^\s+created [\d.]+ms, opened ([\d.]+)ms, closed ([\d.]+|-)ms .*\(closed by \w+ (\d+)\)")


def parse(path):
    frames, sockets, cur = [], {}, None
    for line in path.read_text(encoding="utf-8").split("\n"):
        m = sock_re.match(line)
        if m:
            cur = "s" + m.group(1)
            u = urllib.parse.urlsplit(m.group(2))
            q = urllib.parse.parse_qs(u.query)
            sockets[cur] = (q["storeId"][0], q.get("payload", [None])[0])
            continue
        m = life_re.match(line)
        if m and cur:
            frames.append((float(m.group(1)), cur, "open", ""))
            if m.group(2) != "-":
                frames.append((float(m.group(2)), cur, "close", m.group(3)))
            continue
        m = frame_re.match(line)
        if m and cur:
            frames.append((float(m.group(1)), cur, m.group(2), m.group(3)))
    frames.sort(key=lambda f: f[0])
    return frames, sockets


def script(name):
    frames, sockets = parse(here / "transcripts03" / (name + ".txt"))
    if any(truncated_re.search(f[3]) for f in frames):
        print(f"{name}: the transcript shortens some frames; write its script by hand", file=sys.stderr)
        return
    keep_ping = name == "ping"
    out = [f"# Replays testdata/transcripts03/{name}.txt (LiveStore 0.3.1's client and server).", ""]
    group = None

    def flush():
        nonlocal group
        if group:
            cmd, sock, lines = group
            if cmd == "send":
                out.extend([f"send sock={sock}", *lines, "----", ""])
            else:
                out.extend([f"expect sock={sock}", "----", *lines, ""])
        group = None

    for _, sock, direction, frame in frames:
        if not keep_ping and '"_tag":"WSMessage.P' in frame and ('"WSMessage.Ping"' in frame or '"WSMessage.Pong"' in frame):
            continue
        if direction == "close":
            flush()
            out.extend([f"close sock={sock} code={frame}", "----", f"closed {frame}", ""])
            continue
        if direction == "open":
            flush()
            store, payload = sockets[sock]
            args = f"dial v03 sock={sock} store={store}"
            if payload is not None:
                args += " payload=" + payload  # encodeURIComponent's text; dial form-encodes it again
            out.extend([args, "----", ""])
            continue
        cmd = "send" if direction == "C->S" else "expect"
        if cmd == "expect":
            frame = created_re.sub('"createdAt":"<time>"', frame)
        if group and (group[0], group[1]) == (cmd, sock):
            group[2].append(frame)
        else:
            flush()
            group = (cmd, sock, [frame])
    flush()
    (here / "conversations" / ("v03-" + name)).write_text("\n".join(out).rstrip("\n") + "\n", encoding="utf-8")


for n in sys.argv[1:]:
    script(n)
