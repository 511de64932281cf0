# budget_sweep_1t.gp: written by tensql bench --sweep; run `gnuplot budget_sweep_1t.gp` here to redraw budget_sweep_1t.png
$v0 << EOD
# budget_MiB decode_tok_s min max MiB_read_per_token disk_limit_tok_s
160 5.129 4.919 5.144 357.28 5.427
220 4.698 4.681 5.171 296.56 5.394
280 6.506 5.914 7.687 235.14 7.633
380 13.24 12.81 13.54 132.21 15.14
EOD
$v1 << EOD
# budget_MiB decode_tok_s min max MiB_read_per_token disk_limit_tok_s
160 1.528 1.204 1.596 502.43 3.797
220 1.166 1.144 1.268 502.43 2.916
280 1.4 1.318 1.419 502.43 3.596
380 1.515 1.503 1.588 502.43 3.926
EOD
$v2 << EOD
# budget_MiB decode_tok_s min max MiB_read_per_token disk_limit_tok_s
160 2.149 1.634 2.182 522.73 3.582
220 1.75 1.697 1.842 517.03 2.848
280 2.248 2.027 2.26 437.67 4.204
380 2.155 2.142 2.275 429.09 4.812
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
