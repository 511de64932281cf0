# budget_sweep_1t.gp: written by tensql bench --sweep; run `gnuplot budget_sweep_1t.gp` here to redraw budget_sweep_1t.png
$v0 << EOD
# budget_MiB decode_tok_s min max MiB_read_per_token disk_limit_tok_s
160 5.001 4.543 5.047 357.20 5.261
220 6.059 5.94 6.156 296.65 6.595
280 7.874 7.558 7.952 235.15 8.034
380 12.38 12.04 12.56 132.25 13.55
EOD
$v1 << EOD
# budget_MiB decode_tok_s min max MiB_read_per_token disk_limit_tok_s
160 1.415 1.411 1.624 502.43 3.577
220 1.494 1.393 1.548 502.43 3.681
280 1.563 1.496 1.595 502.43 3.965
380 1.55 1.495 1.631 502.43 3.695
EOD
$v2 << EOD
# budget_MiB decode_tok_s min max MiB_read_per_token disk_limit_tok_s
160 2.092 2.037 2.158 526.20 3.529
220 2.066 2.001 2.118 521.02 3.567
280 2.193 2.176 2.309 417.69 4.951
380 2.249 2.121 2.42 422.40 4.05
EOD
set terminal pngcairo size 1100,440 font 'sans,10'
set output 'budget_sweep_1t.png'
set termoption noenhanced
set multiplot layout 1,2 title "/tmp/q05n.db: 64-token prompt, 32 generated, 3 repeats, 1 thread, cgroup limit budget + 40.0 MB"
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
