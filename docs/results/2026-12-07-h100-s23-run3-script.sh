# Session 23 run 3 (temporary; copied to docs/results): the defaults after c7b7547, A/B'd against session 22's tiles in one call.
source .device/prelude.sh > /dev/null
d=dist/cli
row() { sed -E 's/ +[0-9]+ WGs +[0-9]+ rows//; s/ +[0-9]+ GB\/s//' | awk '{k=$0; sub(/ +[0-9]\/SM.*/,"",k); v=$0; sub(/.*SM +/,"",v); sub(/ µs/,"",v); row[k]=row[k]" "v} END{for(k in row) print k" |"row[k]}' | sort; }
node $d/bench.js --suites bandwidth,decode --shapes llama-2-7b --schemes w2-4-16 --contexts 128 --decode-tokens 32 --variants default,w2-s22-tiles,w2-a8,w2-a8-s22-tiles > $OUT/decode-7b-w2.txt 2>&1
node $d/bench.js --suites decode --shapes llama-2-7b --schemes w4a8 --contexts 128,2048 --decode-tokens 32 > $OUT/decode-7b-w4a8.txt 2>&1
node $d/bench.js --suites decode --shapes llama-3.2-1b --schemes w4a8,w2-4-16 --contexts 128 --decode-tokens 32 --variants default,w2-s22-tiles > $OUT/decode-1b.txt 2>&1
echo "=== decode"; grep -hE "^llama.*GPU step" $OUT/decode-*.txt
V='tpr8 + norm;tpr8 + norm s22;tpr8 + norm late unroll2;tpr8 + norm s16 unroll2;tpr8 + norm a8;tpr8 + norm a8 s16 unroll2'
node $d/bench.js --suites occupancy --schemes w2-4-16 --gemv-variants "$V" > $OUT/occ.txt 2>&1
echo "=== occupancy"; grep -E "^w2" $OUT/occ.txt | row
G='tpr8 + norm;tpr8 + norm s22;tpr16;tpr16 unroll2;tpr16 s16;tpr16 s16 unroll2;tpr8 + norm a8;tpr8 + norm a8 s16 unroll2;tpr16 a8;tpr16 a8 s22'
node $d/bench.js --suites bandwidth,gemv --shapes llama-2-7b --schemes w2-4-16 --gemv-variants "$G" > $OUT/gemv.txt 2>&1
echo "=== gemv"; grep -E "^llama" $OUT/gemv.txt | sed -E 's/^llama-2-7b +([a-z_]+) +[0-9×]+ +([a-z0-9-]+) +(.*[^ ]) +([0-9.]+) µs.*/\1 | \3 | \4/'
