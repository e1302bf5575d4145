# Session 23 run 5 (temporary; copied to docs/results): int8 + norm with the three levers by default (c152b9d), A/B'd against session 22's tiles, one process per run.
source .device/prelude.sh > /dev/null
d=dist/cli
for s in llama-2-7b llama-3.2-1b; do for v in w2-a8 w2-a8-s22-tiles; do
  node $d/bench.js --suites decode --shapes $s --schemes w2-4-16 --contexts 128 --decode-tokens 32 --variants $v > $OUT/decode-$s-$v.txt 2>&1
  grep -hE "^llama.*GPU step" $OUT/decode-$s-$v.txt
done; done
grep -hE "^gemv (qkv|gate_up|down|o) " $OUT/decode-*.txt
