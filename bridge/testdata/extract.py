#!/usr/bin/env python3
"""Copies the WebSocket frames of the captured transcripts into testdata/transcripts/*.jsonl.

Run from bridge/testdata with the directory of the captured transcripts (PROTOCOL.md §12) as
argument. Tests never read the original transcripts; they read only these copies. Each output
line is one frame: {"conn": "ws#N", "dir": "c" (client->server) or "s", "text": exact frame text}.
ws-ack-backpressure and ws-pagination-600 are left out: their frames repeat the shapes of
ws-pagination-250 and would only add 570 KB.
"""
import glob, json, os, sys

SKIP = {"ws-ack-backpressure", "ws-pagination-600"}

src = sys.argv[1]
for path in sorted(glob.glob(os.path.join(src, "ws-*.json"))):
    name = os.path.basename(path)[:-5]
    if name in SKIP:
        continue
    with open(path, encoding="utf-8") as f:
        d = json.load(f)
    with open(os.path.join("transcripts", name + ".jsonl"), "w", encoding="utf-8") as out:
        for fr in d["frames"]:
            if fr.get("kind") != "ws-frame":
                continue
            direction = {"client->server": "c", "server->client": "s"}[fr["dir"]]
            out.write(json.dumps({"conn": fr["conn"], "dir": direction, "text": fr["text"]}, ensure_ascii=False) + "\n")
