# Session 24 run 1 (temporary; copied to docs/results): c152b9d's int8 + norm tile end to end (w2-a8 vs w2-a8-s22-tiles), several variants per process with a GC forced before each timed stream (bb1c73c); clean W4A8 @128 / @2048.
source .device/prelude.sh > /dev/null
d=dist/cli
t0=$(date +%s); st() { echo "[$(( $(date +%s) - t0 )) s] $*"; }
st start
node $d/bench.js --suites bandwidth,barrier > $OUT/barrier.txt 2>&1; st barrier
node $d/bench.js --suites bandwidth,decode --shapes llama-2-7b --schemes w2-4-16 --contexts 128 --decode-tokens 32 --variants w2-a8,w2-a8-s22-tiles,default > $OUT/decode-7b-w2.txt 2>&1; st 7b-w2
node $d/bench.js --suites decode --shapes llama-2-7b --schemes w4a8 --contexts 128,2048 --decode-tokens 32 > $OUT/decode-7b-w4a8.txt 2>&1; st 7b-w4a8
node $d/bench.js --suites decode --shapes llama-3.2-1b --schemes w4a8,w2-4-16 --contexts 128 --decode-tokens 32 --variants default,w2-a8,w2-a8-s22-tiles > $OUT/decode-1b.txt 2>&1; st 1b
echo "=== barrier"; grep -E "^ +[0-9]+ workgroups|^read" $OUT/barrier.txt
echo "=== decode"; for f in $OUT/decode-*.txt; do echo "-- $(basename $f)"; grep -hE "^llama.*GPU step" $f; done
echo "=== GC"; grep -hE "^llama.*(128|2048) +[0-9.]+ +[0-9.]+ +[0-9.]+ " $OUT/decode-*.txt | awk '{print $1,$2,$3,$4,"JS",$5,"GCs/run",$(NF-5),"GCms/run",$(NF-4)}'
grep -hE "run [123] +[0-9.]+ tok/s" $OUT/decode-*.txt | cut -c1-60
