# Session 24 run 2 (temporary; copied to docs/results): JS-timed figures again on another machine (run 1's host encoded 2.3x slower than session 23's), the forced GC A/B'd (--forced-gc off) on W4A8 7B, and the host-stall suite as a host-speed yardstick.
source .device/prelude.sh > /dev/null
d=dist/cli
t0=$(date +%s); st() { echo "[$(( $(date +%s) - t0 )) s] $*"; }
st start
node $d/bench.js --suites bandwidth,host,barrier > $OUT/host-barrier.txt 2>&1; st host-barrier
node $d/bench.js --suites decode --shapes llama-2-7b --schemes w4a8 --contexts 128,2048 --decode-tokens 32 > $OUT/decode-7b-w4a8.txt 2>&1; st 7b-w4a8
node $d/bench.js --suites decode --shapes llama-2-7b --schemes w4a8 --contexts 128,2048 --decode-tokens 32 --forced-gc off > $OUT/decode-7b-w4a8-nogc.txt 2>&1; st 7b-w4a8-nogc
node $d/bench.js --suites decode --shapes llama-2-7b --schemes w2-4-16 --contexts 128 --decode-tokens 32 --variants default,w2-a8 > $OUT/decode-7b-w2.txt 2>&1; st 7b-w2
node $d/bench.js --suites decode --shapes llama-3.2-1b --schemes w4a8,w2-4-16 --contexts 128 --decode-tokens 32 --variants default,w2-a8 > $OUT/decode-1b.txt 2>&1; st 1b
echo "=== host / barrier"; grep -E "^host stalls|^read| 0 loads   0 exchanges" $OUT/host-barrier.txt
echo "=== decode"; for f in $OUT/decode-*.txt; do echo "-- $(basename $f)"; grep -hE "^llama.*GPU step" $f; grep -hE "^(host encode|host submit|encode alone)" $f; done
echo "=== runs"; grep -hE "run [123] +[0-9.]+ tok/s" $OUT/decode-*.txt | cut -c1-70
echo "=== GC"; grep -hE "^llama.* (128|2048) +[0-9.]+ +[0-9.]+ +[0-9.]+ +[0-9.]+ +[0-9.]+ +[0-9.]+ " $OUT/decode-*.txt | cut -c1-40,150-240
