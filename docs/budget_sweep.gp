# budget_sweep.gp: written by tensql bench --sweep; run `gnuplot budget_sweep.gp` here to redraw budget_sweep.png
$v0 << EOD
# budget_MiB decode_tok_s min max MiB_read_per_token
150 0.4451 0.4357 0.5661 505.05
250 0.7404 0.6479 1.029 362.23
350 0.7997 0.7327 1.293 219.98
600 12.96 6.292 13.23 0.00
EOD
$v1 << EOD
# budget_MiB decode_tok_s min max MiB_read_per_token
150 0.561 0.407 0.5634 357.16
250 0.7137 0.71 1.054 257.22
350 1.036 0.986 1.35 157.22
600 11.81 6.835 11.94 0.00
EOD
$v2 << EOD
# budget_MiB decode_tok_s min max MiB_read_per_token
150 0.4569 0.3635 0.4616 938.43
250 0.4919 0.4672 0.5416 896.07
350 0.4103 0.386 0.4339 957.74
600 11.79 8.089 15.41 0.00
EOD
$v3 << EOD
# budget_MiB decode_tok_s min max MiB_read_per_token
150 0.3748 0.2284 0.388 500.79
250 0.4802 0.4727 0.5336 500.79
350 0.3633 0.2989 0.3886 500.79
600 11.8 10.82 12.3 0.00
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
