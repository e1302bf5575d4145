# Session 22 run 4 (temporary, not committed): four builds of the staged GEMV kernels A/B'd in one call.
source .device/prelude.sh
V='tpr8 + norm,tpr8 + norm a8,tpr8 a8'
G2='tpr8 + norm,tpr8 + norm a8,tpr16,tpr16 a8'
G4='tpr8 + norm, scales per thread,tpr4 + norm, scales per thread,tpr16 staged, scales per thread'
for b in b0 trim cli latenc; do
  d=dist/$b/cli; [ $b = cli ] && d=dist/cli
  echo "=== $b"
  node $d/bench.js --suites bandwidth,occupancy --schemes w2-4-16 --gemv-variants "$V" > $OUT/occ-$b.txt 2>&1
  grep -E "^w2" $OUT/occ-$b.txt | sed -E 's/ +[0-9]+ WGs +[0-9]+ rows//; s/ +[0-9]+ GB\/s//'
  node $d/bench.js --suites bandwidth,gemv --shapes llama-2-7b --schemes w2-4-16,w4a8 --gemv-variants "$G2,$G4" > $OUT/gemv-$b.txt 2>&1
  grep -E "^llama" $OUT/gemv-$b.txt | sed -E 's/^llama-2-7b +([a-z_]+) +[0-9×]+ +([a-z0-9-]+) +(.*[^ ]) +([0-9.]+) µs.*/\1 \2 | \3 | \4/'
done
for b in cli latenc; do
  d=dist/$b/cli; [ $b = cli ] && d=dist/cli
  S=w2-4-16; [ $b = cli ] && S=w2-4-16,w4a8
  node $d/bench.js --suites bandwidth,decode --shapes llama-2-7b --schemes $S --contexts 128 --decode-tokens 32 --variants default,w2-a8 > $OUT/decode-$b.txt 2>&1
  echo "=== decode $b"; grep -E "tok/s|one pass|^gemv|JS-timed" $OUT/decode-$b.txt | grep -v prefill | tail -14
done
