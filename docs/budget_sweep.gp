# budget_sweep.gp: written by tensql bench --sweep; run `gnuplot budget_sweep.gp` here to redraw budget_sweep.png
$v0 << EOD
# budget_MiB decode_tok_s min max MiB_read_per_token disk_limit_tok_s
160 4.175 3.89 4.643 357.12 4.302
220 5.563 4.621 6.006 296.84 6.208
280 7.066 6.797 7.416 235.05 8.538
380 13.2 12.67 13.5 132.24 15.22
EOD
$v1 << EOD
# budget_MiB decode_tok_s min max MiB_read_per_token disk_limit_tok_s
160 1.32 1.206 1.384 502.43 3.722
220 1.29 1.271 1.484 502.43 3.695
280 1.342 1.321 1.43 502.43 4.027
380 1.403 1.318 1.433 502.43 3.803
EOD
$v2 << EOD
# budget_MiB decode_tok_s min max MiB_read_per_token disk_limit_tok_s
160 1.915 1.864 1.925 525.29 4.134
220 1.871 1.822 1.883 511.47 3.709
280 2.033 2.004 2.048 453.89 4.642
380 2.231 2.185 2.273 409.06 4.835
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
