# budget_sweep.gp: written by tensql bench --sweep; run `gnuplot budget_sweep.gp` here to redraw budget_sweep.png
$v0 << EOD
# budget_MiB decode_tok_s min max MiB_read_per_token disk_limit_tok_s
160 4.937 4.44 4.938 357.24 5.109
220 5.503 5.028 5.961 296.74 6.67
280 7.491 6.224 7.925 235.15 8.09
380 13.25 10.96 13.78 132.26 12.61
EOD
$v1 << EOD
# budget_MiB decode_tok_s min max MiB_read_per_token disk_limit_tok_s
160 1.522 1.433 1.549 502.43 3.413
220 1.338 1.31 1.489 502.43 4.007
280 1.559 1.073 1.565 502.43 3.778
380 1.389 1.388 1.472 502.43 3.664
EOD
$v2 << EOD
# budget_MiB decode_tok_s min max MiB_read_per_token disk_limit_tok_s
160 2.059 2.005 2.173 525.33 3.554
220 1.945 1.879 2.136 487.46 4.146
280 1.947 1.786 2.237 437.93 5.109
380 2.113 1.974 2.214 415.09 4.607
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
