#!/usr/bin/env bash
# Captures LiveStore client scenarios against livestore-sync with the original server's capture
# tool, for framediff.py. Optional developer tool: not part of `make test`.
#
#   REF=/path/to/writable/copy/of/shared/reference  BIN=../../bin/livestore-sync  ./capture-ours.sh OUTDIR [ws|http]
#
# REF is a copy of the original server's comparison kit (`npm ci` done in it); BIN a built binary.
set -euo pipefail
out=$(realpath -m "${1:?usage: capture-ours.sh OUTDIR [ws|http]}")
kind=${2:-ws}
: "${REF:?set REF to a writable copy of the reference kit}"
bin=$(realpath "${BIN:-$(dirname "$0")/../../bin/livestore-sync}")
port=${PORT:-18931}
data=$(mktemp -d)
mkdir -p "$out"
"$bin" serve --addr "127.0.0.1:$port" --data-dir "$data" >"$out/server.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$data"' EXIT
for _ in $(seq 1 50); do curl -sf -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.2; done
cd "$REF"
for sc in $(node -e "const fs=require('fs');const d=process.argv[1];for(const f of fs.readdirSync(d))if(f.startsWith('$kind-'))console.log(f.replace(/\.json$/,''))" "${TRANSCRIPTS:-/work/shared/protocol/transcripts}"); do
  node capture.mjs --target-port "$port" --out "$out" --only "$sc"
done
