#!/usr/bin/env bash
# Greedy ids (BOS, 40 tokens) of each pack directory given, one JSON line per pack: the
# cross-adapter check of docs/kernels.md (run it on lavapipe, SwiftShader-less Node, the lent GPU
# and diff the outputs). Needs `npm run build:cli` first.
set -euo pipefail
for p in "$@"; do
  echo "== $p"
  node dist/cli/pagelm.js run "$p" --tokens 1 --max-tokens 40 --json |
    node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.stringify(JSON.parse(s).tokens)))'
done
