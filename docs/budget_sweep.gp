# budget_sweep.gp: written by tensql bench --sweep; run `gnuplot budget_sweep.gp` here to redraw budget_sweep.png
$v0 << EOD
# budget_MiB decode_tok_s min max MiB_read_per_token
150 1.537 1.468 1.558 547.56
250 1.923 1.92 2.07 393.80
350 2.907 2.663 3.113 241.49
600 21.32 21.04 21.8 0.00
EOD
$v1 << EOD
# budget_MiB decode_tok_s min max MiB_read_per_token
150 1.237 1.198 1.308 357.50
250 1.593 1.501 1.745 257.49
350 2.667 2.56 2.756 157.50
600 19.8 19.31 21.03 0.00
EOD
$v2 << EOD
# budget_MiB decode_tok_s min max MiB_read_per_token
150 0.8612 0.8035 0.9386 500.79
250 0.838 0.815 0.8917 500.79
350 0.8378 0.8223 0.8835 500.79
600 20.54 20.51 20.6 0.00
EOD
$v3 << EOD
# budget_MiB decode_tok_s min max MiB_read_per_token
150 0.8536 0.8097 0.9381 500.79
250 0.8231 0.7796 0.8871 500.79
350 0.8441 0.8078 0.9008 500.79
600 21.2 20.85 21.34 0.00
EOD
set terminal pngcairo size 1100,440 font 'sans,10'
set output 'budget_sweep.png'
set termoption noenhanced
set multiplot layout 1,2 title "/tmp/q05.db: 64-token prompt, 16 generated, 3 repeats, 1 thread"
set grid
set key top left
set xlabel 'budget (MiB)'
set logscale y
set ylabel 'decode tokens/s, log scale (median; bars: min-max)'
plot $v0 using 1:2:3:4 with yerrorlines lw 2 title 'OPT + prefetch', $v1 using 1:2:3:4 with yerrorlines lw 2 title 'OPT', $v2 using 1:2:3:4 with yerrorlines lw 2 title 'LRU + prefetch', $v3 using 1:2:3:4 with yerrorlines lw 2 title 'LRU'
unset logscale y
set yrange [0:*]
set ylabel 'MiB read per decode token'
set key top right
W = 500.52
plot $v0 using 1:5 with linespoints lw 2 title 'OPT + prefetch', $v1 using 1:5 with linespoints lw 2 title 'OPT', $v2 using 1:5 with linespoints lw 2 title 'LRU + prefetch', $v3 using 1:5 with linespoints lw 2 title 'LRU', (W - x > 0 ? W - x : 0) with lines dt 2 lc 'black' title 'optimum: weights - budget'
unset multiplot
