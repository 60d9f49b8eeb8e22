#!/usr/bin/env python3
"""Copies the HTTP exchanges of the captured HTTP transcripts into testdata/http/*.jsonl.

Run from bridge/testdata with the directory of the captured transcripts (PROTOCOL.md §12) as
argument. Tests never read the original transcripts; they read only these copies. Each output
line is one exchange, in the order the requests were sent:
{"method", "url", "reqHeaders": {lower-case name: value} (only the headers that matter),
 "body", "status", "respHeaders": {lower-case name: value}, "respBody" (decoded if gzipped)}.
Scenarios with overlapping requests (live pulls of two clients) and http-pagination-600 (its
pages show the reference's 256-row storage pages) are left out.
"""
import json, os, sys

NAMES = ["http-connect-ping", "http-pull-empty", "http-push-one", "http-push-batch-3",
         "http-push-server-ahead", "http-pull-cursor", "http-pull-backend-mismatch",
         "http-pagination-250", "http-payload", "http-raw-edge-cases"]
KEEP_REQ = {"accept-encoding", "access-control-request-headers", "upgrade", "connection"}

src = sys.argv[1]
for name in NAMES:
    with open(os.path.join(src, name + ".json"), encoding="utf-8") as f:
        d = json.load(f)
    ex = {}
    order = []
    for fr in d["frames"]:
        k, conn = fr.get("kind"), fr.get("conn")
        if k == "http-request":
            h = {n.lower(): v for n, v in fr["headers"] if n.lower() in KEEP_REQ}
            if h.get("connection", "").lower() == "keep-alive":
                del h["connection"]
            ex[conn] = {"method": fr["method"], "url": fr["url"], "reqHeaders": h, "body": fr["body"]}
            order.append(conn)
        elif k == "http-response-head":
            ex[conn]["status"] = fr["status"]
            ex[conn]["respHeaders"] = {n.lower(): v for n, v in fr["headers"]}
        elif k == "http-response-end":
            ex[conn]["respBody"] = fr["body"]
    with open(os.path.join("http", name + ".jsonl"), "w", encoding="utf-8") as out:
        for conn in order:
            out.write(json.dumps(ex[conn], ensure_ascii=False) + "\n")
