#!/usr/bin/env python3
"""Diff server->client WebSocket frames between two transcript dirs (PROTOCOL.md §12 format).

usage: framediff.py ORIG_DIR OURS_DIR [scenario ...] [--interleaved] [--steps]

Per scenario and per connection (ws#N, assigned by the proxy in connect order) the sequence of
server->client items is normalised and compared with difflib:
  ws-upgrade-response -> "UPGRADE <status> <sorted header names minus volatile>"
  ws-upgrade-rejected -> "REJECTED <status> <body>"
  ws-frame            -> normalised text
  ws-close            -> "CLOSE <code> <reason>"
With --interleaved the whole scenario's server->client sequence (all conns, in time order) is compared too.
With --steps the client-step END outcomes are compared as well.

Normalisation rules (see RULES below, printed with --rules).
"""
import difflib
import json
import os
import re
import sys

RULES = """
N1 backendId: every value seen under a "backendId" key in a server->client frame (Chunk values) or in
   the upgrade/close text is collected in order of first appearance and replaced everywhere in that
   transcript's server frames by <BID1>, <BID2>, ... (so BackendIdMismatchError.expected is covered);
   the client-seeded literal "wrong-backend-id" / "x" stay as they are.
N2 ISO-8601 timestamps (createdAt etc.) -> <TS>.
N3 "traceId"/"spanId" values -> <TRACE>/<SPAN> (key-based).
N4 Sec-WebSocket-Accept/Key and Date headers dropped; upgrade responses compared by status + sorted header names.
N5 ports: 127.0.0.1:NNNN / localhost:NNNN -> <HOST>:<PORT>.
N6 timings t: not compared (only order within a connection, or across all with --interleaved).
N7 request ids: compared literally; if a connection's sequences differ only by a constant numeric
   offset of requestId, they are renumbered per connection in order of first appearance (reported).
N8 frames compared as exact text after N1-N5; if texts differ but the parsed JSON is equal, the
   difference is reported as "key-order/whitespace only".
"""

VOLATILE_HEADERS = {"sec-websocket-accept", "sec-websocket-key", "date"}
TS_RE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z")
PORT_RE = re.compile(r"(127\.0\.0\.1|localhost):\d+")


def load(path):
    with open(path) as f:
        return json.load(f)


def collect_bids(frames):
    bids = []
    def walk(o):
        if isinstance(o, dict):
            for k, v in o.items():
                if k in ("backendId", "expected") and isinstance(v, str) and v not in bids and v not in ("wrong-backend-id", "x", "wrong"):
                    bids.append(v)
                walk(v)
        elif isinstance(o, list):
            for v in o:
                walk(v)
    for fr in frames:
        if fr.get("dir") == "server->client" and fr.get("kind") in ("ws-frame", "http-response-body-chunk"):
            try:
                walk(json.loads(fr["text"]))
            except Exception:
                pass
            for m in re.finditer(r'"(?:backendId|expected)":"([^"]+)"', fr.get("text", "")):
                if m.group(1) not in bids and m.group(1) not in ("wrong-backend-id", "x", "wrong"):
                    bids.append(m.group(1))
            try:
                pass
            except Exception:
                pass
    return bids


def norm_text(text, bids):
    for i, b in enumerate(bids):
        text = text.replace(b, f"<BID{i+1}>")
    text = TS_RE.sub("<TS>", text)
    text = re.sub(r'"traceId":"[0-9a-f]+"', '"traceId":"<TRACE>"', text)
    text = re.sub(r'"spanId":"[0-9a-f]+"', '"spanId":"<SPAN>"', text)
    text = PORT_RE.sub("<HOST>:<PORT>", text)
    return text


def items(tr):
    frames = tr["frames"]
    bids = collect_bids(frames)
    per = {}
    seq = []
    bodies = {}
    for fr in frames:
        if fr.get("dir") != "server->client":
            continue
        k = fr["kind"]
        if k == "ws-upgrade-response":
            hs = sorted({h[0].lower() for h in fr.get("headers", [])} - VOLATILE_HEADERS)
            s = f"UPGRADE {fr['status']} headers={','.join(hs)}"
        elif k == "ws-upgrade-rejected":
            s = f"REJECTED {fr['status']} {norm_text(fr.get('body', ''), bids)}"
        elif k == "ws-frame":
            s = ("" if fr.get("opcode") == "text" else f"[{fr.get('opcode')}] ") + norm_text(fr.get("text", ""), bids)
        elif k == "ws-close":
            s = f"CLOSE {fr.get('code')} {fr.get('reason', '')!r}"
        elif k == "http-response-head":
            hs = sorted({h[0].lower() for h in fr.get("headers", [])} - VOLATILE_HEADERS - {"content-length", "cf-ray", "server"})
            s = f"HTTP {fr.get('status')} headers={','.join(hs)}"
        elif k == "http-response-body-chunk":
            # transport chunk boundaries are not meaningful: concatenate the body of one exchange
            bodies[fr.get("conn", "?")] = bodies.get(fr.get("conn", "?"), "") + fr.get("text", "")
            continue
        elif k == "http-response-end":
            s = "BODY " + norm_text(bodies.pop(fr.get("conn", "?"), ""), bids)
        else:
            s = f"{k} {fr.get('text', '')}"
        per.setdefault(fr.get("conn", "?"), []).append(s)
        seq.append(f"{fr.get('conn')}: {s}")
    return per, seq


def steps(tr):
    bids = collect_bids(tr["frames"])
    out = []
    for fr in tr["frames"]:
        if fr.get("kind") == "client-step" and (fr["note"].startswith("END") or fr["note"] in ("result",) or "item" in fr["note"]):
            v = {k: fr[k] for k in ("outcome", "value", "error", "cause") if k in fr}
            out.append(norm_text(fr["note"] + " " + json.dumps(v, sort_keys=True), bids))
    return out


def renumber(seq):
    m = {}
    def rep(mo):
        v = mo.group(1)
        if v not in m:
            m[v] = str(len(m))
        return f'"requestId":"{m[v]}"'
    return [re.sub(r'"requestId":"(\d+)"', rep, s) for s in seq]


def same_json(a, b):
    try:
        return json.loads(a) == json.loads(b)
    except Exception:
        return False


def short(s, n=600):
    """Chunk frames are shown as a summary (requestId, seqNums range, pageInfo, backendId) + length."""
    m = re.match(r'^(ws#\d+: )?(\{"_tag":"Chunk".*)$', s)
    if m and len(s) > n:
        try:
            j = json.loads(m.group(2))
            parts = []
            for v in j.get("values", []):
                sq = [b["eventEncoded"]["seqNum"] for b in v.get("batch", [])]
                rng = f"{sq[0]}..{sq[-1]} ({len(sq)})" if sq else "[]"
                parts.append(f"batch={rng} pageInfo={json.dumps(v.get('pageInfo'))} backendId={v.get('backendId')}")
            return f"{m.group(1) or ''}Chunk requestId={j.get('requestId')} values=[{'; '.join(parts)}] ({len(s)} chars)"
        except Exception:
            pass
    return s if len(s) <= n else s[:n] + f"...(+{len(s)-n} chars)"


def diff_lists(a, b, label):
    lines = []
    sm = difflib.SequenceMatcher(a=a, b=b, autojunk=False)
    for op, i1, i2, j1, j2 in sm.get_opcodes():
        if op == "equal":
            continue
        if op == "replace" and (i2 - i1) == (j2 - j1) and all(same_json(a[i1+k], b[j1+k]) for k in range(i2 - i1)):
            lines.append(f"  [{label}] key-order/whitespace only at orig#{i1}..{i2-1}")
            continue
        lines.append(f"  [{label}] {op} orig#{i1}..{i2-1} ours#{j1}..{j2-1}")
        for s in a[i1:i2]:
            lines.append(f"     - ORIG: {short(s)}")
        for s in b[j1:j2]:
            lines.append(f"     + OURS: {short(s)}")
    return lines


def compare(orig_path, ours_path, interleaved=False, with_steps=False):
    o, u = load(orig_path), load(ours_path)
    po, so = items(o)
    pu, su = items(u)
    out = []
    for conn in sorted(set(po) | set(pu), key=lambda c: (len(c), c)):
        a, b = po.get(conn, []), pu.get(conn, [])
        if a == b:
            continue
        ra, rb = renumber(a), renumber(b)
        if ra == rb:
            out.append(f"  [{conn}] identical after request-id renumbering (N7)")
            continue
        out += diff_lists(a, b, conn)
    if interleaved and so != su:
        out.append("  -- interleaved (all conns, time order):")
        out += diff_lists(so, su, "all")
    if with_steps:
        sa, sb = steps(o), steps(u)
        if sa != sb:
            out.append("  -- client-step outcomes:")
            out += diff_lists(sa, sb, "steps")
    if u.get("error"):
        out.append(f"  OURS capture error: {u['error'].splitlines()[0]}")
    return out


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    flags = {a for a in sys.argv[1:] if a.startswith("--")}
    if "--rules" in flags:
        print(RULES)
    orig_dir, ours_dir = args[0], args[1]
    names = args[2:] or sorted(f[:-5] for f in os.listdir(ours_dir) if f.endswith(".json"))
    for n in names:
        op, up = os.path.join(orig_dir, n + ".json"), os.path.join(ours_dir, n + ".json")
        if not os.path.exists(up):
            print(f"== {n}: MISSING in ours")
            continue
        res = compare(op, up, "--interleaved" in flags, "--steps" in flags)
        print(f"== {n}: {'IDENTICAL after normalisation' if not res else 'DIFFERENT'}")
        for line in res:
            print(line)


if __name__ == "__main__" and "--classify" not in sys.argv:
    main()


# ---------------------------------------------------------------------------------------------------------
# classification (used by --classify): every orig-only / ours-only server->client item of a connection gets
# a class. (a) = expected by design, ORDER = same frame present on both sides but at another position,
# (b) = anything else.

def _j(s):
    try:
        return json.loads(s)
    except Exception:
        return None


def _exit_ids_before(seq, idx):
    ids = set()
    for s in seq[:idx]:
        j = _j(s)
        if isinstance(j, dict) and j.get("_tag") == "Exit":
            ids.add(j.get("requestId"))
    return ids


def _is_interrupt_tree(j):
    return isinstance(j, dict) and j.get("_tag") == "Exit" and '"Sequential"' in json.dumps(j) and '"Interrupt"' in json.dumps(j)


def classify_conn(a, b, client_ids_nonnumeric=False):
    sm = difflib.SequenceMatcher(a=a, b=b, autojunk=False)
    only_a, only_b = [], []
    for op, i1, i2, j1, j2 in sm.get_opcodes():
        if op == "equal":
            continue
        only_a += [(i, a[i]) for i in range(i1, i2)]
        only_b += [(j, b[j]) for j in range(j1, j2)]
    out = []
    # ORDER: identical text on both sides
    for ia, sa in list(only_a):
        for ib, sb in list(only_b):
            if sa == sb:
                out.append(("ORDER", f"orig#{ia} / ours#{ib}", sa, sb))
                only_a.remove((ia, sa)); only_b.remove((ib, sb))
                break
    # pair Exit frames of the same requestId
    for ia, sa in list(only_a):
        ja = _j(sa)
        if not (isinstance(ja, dict) and ja.get("_tag") == "Exit"):
            continue
        for ib, sb in list(only_b):
            jb = _j(sb)
            if isinstance(jb, dict) and jb.get("_tag") == "Exit" and jb.get("requestId") == ja.get("requestId"):
                ca, cb = ja["exit"].get("cause", {}), jb["exit"].get("cause", {})
                if _is_interrupt_tree(ja) and cb.get("_tag") == "Interrupt":
                    cls = ("a", "minimal Interrupt cause instead of nested -499/-503 interrupt tree")
                elif ca.get("_tag") == "Die" and cb.get("_tag") == "Die":
                    cls = ("a", "Die defect text differs")
                elif ca.get("_tag") == "Fail" and cb.get("_tag") == "Fail" and ca["error"].get("_tag") == cb["error"].get("_tag") == "UnknownError":
                    cls = ("a", "UnknownError: our validation message instead of the storage (SQLite constraint) error")
                else:
                    cls = ("b", "Exit differs")
                out.append((cls[0] + ": " + cls[1], f"orig#{ia} / ours#{ib}", sa, sb))
                only_a.remove((ia, sa)); only_b.remove((ib, sb))
                break
    for ia, sa in only_a:
        ja = _j(sa)
        if isinstance(ja, dict) and ja.get("_tag") == "Chunk" and ja.get("requestId") in _exit_ids_before(a, ia):
            c = "a: broadcast Chunk to a finished pull (we send only to running pulls)"
        elif _is_interrupt_tree(ja) and '"id":-503' in sa:
            c = "a: -503 interrupt-exit tree on socket close (we send a close frame instead)"
        else:
            c = "b: only in original"
        out.append((c, f"orig#{ia}", sa, None))
    for ib, sb in only_b:
        jb = _j(sb)
        if sb.startswith("CLOSE "):
            c = "a: we send close frames"
        elif isinstance(jb, dict) and jb.get("_tag") == "Defect" and "request id" in str(jb.get("defect", "")):
            c = "a: non-numeric id answered with a Defect instead of wedging"
        elif client_ids_nonnumeric:
            c = "a?: answer the original never sends because its socket is wedged by the non-numeric id"
        else:
            c = "b: only in ours"
        out.append((c, f"ours#{ib}", None, sb))
    return out


def classify(orig_path, ours_path):
    o, u = load(orig_path), load(ours_path)
    po, _ = items(o)
    pu, _ = items(u)
    res = []
    for conn in sorted(set(po) | set(pu), key=lambda c: (len(c), c)):
        a, b = po.get(conn, []), pu.get(conn, [])
        if a == b:
            continue
        wedged = any('"id":"abc"' in fr.get("text", "") for fr in o["frames"] if fr.get("conn") == conn and fr.get("dir") == "client->server")
        for c in classify_conn(a, b, wedged):
            res.append((conn,) + c)
    return res


def main_classify():
    args = [x for x in sys.argv[1:] if not x.startswith("--")]
    orig_dir, ours_dir = args[0], args[1]
    names = args[2:] or sorted(f[:-5] for f in os.listdir(ours_dir) if f.endswith(".json"))
    for n in names:
        res = classify(os.path.join(orig_dir, n + ".json"), os.path.join(ours_dir, n + ".json"))
        if not res:
            print(f"== {n}: IDENTICAL after normalisation")
            continue
        kinds = sorted({r[1].split(":")[0] for r in res})
        print(f"== {n}: differences {kinds}")
        for conn, cls, where, sa, sb in res:
            print(f"  [{conn}] {cls}  ({where})")
            if sa is not None:
                print(f"     - ORIG: {short(sa, 300)}")
            if sb is not None:
                print(f"     + OURS: {short(sb, 300)}")


if __name__ == "__main__" and "--classify" in sys.argv:
    main_classify()
