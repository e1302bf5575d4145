# Session 23 (temporary, not committed): phase 1 = sweep + gemv + zero-init diagnostic; phase 2 = decode.
source .device/prelude.sh > /dev/null
d=dist/cli
if [ "$1" = 1 ]; then
V='tpr8 + norm;tpr8 + norm late;tpr8 + norm unroll2;tpr8 + norm s16;tpr8 + norm s16 late;tpr8 + norm s16 late unroll2;tpr8 a8;tpr8 s16;tpr8 + norm a8;tpr8 + norm a8 s16'
node $d/bench.js --suites bandwidth,occupancy --schemes w2-4-16 --gemv-variants "$V" > $OUT/occ.txt 2>&1
echo "=== occupancy"; grep -E "^w2" $OUT/occ.txt | sed -E 's/ +[0-9]+ WGs +[0-9]+ rows//; s/ +[0-9]+ GB\/s//' | awk '{k=$0; sub(/ +[0-9]\/SM.*/,"",k); v=$0; sub(/.*SM +/,"",v); sub(/ µs/,"",v); row[k]=row[k]" "v} END{for(k in row) print k" |"row[k]}' | sort
node $d/bench.js --suites occupancy --schemes w2-4-16,w4a8 --gemv-variants 'tpr8 + norm;tpr8 + norm a8;tpr8 + norm, scales per thread' --dawn-features disable_workgroup_init > $OUT/occ-noinit.txt 2>&1
echo "=== occupancy, no workgroup zero-init"; grep -E "^w" $OUT/occ-noinit.txt | sed -E 's/ +[0-9]+ WGs +[0-9]+ rows//; s/ +[0-9]+ GB\/s//' | awk '{k=$0; sub(/ +[0-9]\/SM.*/,"",k); v=$0; sub(/.*SM +/,"",v); sub(/ µs/,"",v); row[k]=row[k]" "v} END{for(k in row) print k" |"row[k]}' | sort
G='tpr8 + norm;tpr8 + norm late;tpr8 + norm unroll2;tpr8 + norm s16;tpr8 + norm s16 late;tpr8 + norm s16 late unroll2;tpr16 + norm;tpr16 + norm late;tpr16;tpr8 + norm a8;tpr8 + norm a8 s16;tpr16 a8'
node $d/bench.js --suites bandwidth,gemv --shapes llama-2-7b --schemes w2-4-16 --gemv-variants "$G" > $OUT/gemv.txt 2>&1
echo "=== gemv"; grep -E "^llama" $OUT/gemv.txt | sed -E 's/^llama-2-7b +([a-z_]+) +[0-9×]+ +([a-z0-9-]+) +(.*[^ ]) +([0-9.]+) µs.*/\1 | \3 | \4/'
fi
if [ "$1" = 2 ]; then
node $d/bench.js --suites bandwidth,decode --shapes llama-2-7b --schemes w2-4-16 --contexts 128 --decode-tokens 32 --variants default,w2-s16,w2-late,w2-s16-late,w2-s16-late-u2,w2-a8,w2-a8-s16 > $OUT/decode-w2.txt 2>&1
node $d/bench.js --suites decode --shapes llama-2-7b --schemes w4a8 --contexts 128 --decode-tokens 32 > $OUT/decode-w4a8.txt 2>&1
echo "=== decode"; grep -E "^llama.*GPU step" $OUT/decode-*.txt
fi
