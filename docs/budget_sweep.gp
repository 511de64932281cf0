# budget_sweep.gp: written by tensql bench --sweep; run `gnuplot budget_sweep.gp` here to redraw budget_sweep.png
$v0 << EOD
# budget_MiB decode_tok_s min max MiB_read_per_token disk_limit_tok_s
160 4.676 4.089 4.685 356.42 4.404
220 5.732 5.561 5.804 296.33 6.955
280 6.797 6.729 7.014 234.82 9.07
380 9.712 8.946 10.12 132.54 14.04
EOD
$v1 << EOD
# budget_MiB decode_tok_s min max MiB_read_per_token disk_limit_tok_s
160 1.421 1.238 1.53 502.43 3.125
220 1.496 1.29 1.497 502.43 4.102
280 1.426 1.421 1.459 502.43 4.239
380 1.264 1.231 1.451 502.43 3.704
EOD
$v2 << EOD
# budget_MiB decode_tok_s min max MiB_read_per_token disk_limit_tok_s
160 2.005 1.981 2.022 525.83 2.985
220 2.026 1.651 2.143 509.28 4.047
280 1.973 1.944 2.085 458.29 4.647
380 2.03 1.893 2.141 414.97 4.484
EOD
set terminal pngcairo size 1100,440 font 'sans,10'
set output 'budget_sweep.png'
set termoption noenhanced
set multiplot layout 1,2 title "/tmp/q05n.db: 64-token prompt, 32 generated, 3 repeats, 2 threads, cgroup limit budget + 40.0 MB"
set grid
set key top left
set xlabel 'budget (MiB)'
set logscale y
set ylabel 'decode tokens/s, log scale (median; bars: min-max)'
plot $v0 using 1:2:3:4 with yerrorlines lw 2 lc 1 title 'OPT + prefetch', $v0 using 1:6 with linespoints dt 2 pt 6 lc 1 title 'OPT + prefetch: disk limit', $v1 using 1:2:3:4 with yerrorlines lw 2 lc 2 title 'LRU', $v1 using 1:6 with linespoints dt 2 pt 6 lc 2 title 'LRU: disk limit', $v2 using 1:2:3:4 with yerrorlines lw 2 lc 3 title 'OS (page cache)', $v2 using 1:6 with linespoints dt 2 pt 6 lc 3 title 'OS (page cache): disk limit'
unset logscale y
set yrange [0:*]
set ylabel 'MiB read from disk per decode token'
set key top right
W = 500.63
plot $v0 using 1:5 with linespoints lw 2 lc 1 title 'OPT + prefetch', $v1 using 1:5 with linespoints lw 2 lc 2 title 'LRU', $v2 using 1:5 with linespoints lw 2 lc 3 title 'OS (page cache)', (W - x > 0 ? W - x : 0) with lines dt 2 lc 'black' title 'optimum: weights - budget'
unset multiplot
