# budget_sweep_1t.gp: written by tensql bench --sweep; run `gnuplot budget_sweep_1t.gp` here to redraw budget_sweep_1t.png
$v0 << EOD
# budget_MiB decode_tok_s min max MiB_read_per_token disk_limit_tok_s
160 4.084 3.793 4.65 356.27 4.489
220 5.996 5.531 6.008 295.16 6.395
280 7.759 7.02 7.809 234.76 8.331
380 9.854 9.518 10.17 132.50 13.34
EOD
$v1 << EOD
# budget_MiB decode_tok_s min max MiB_read_per_token disk_limit_tok_s
160 1.439 1.26 1.524 502.43 3.671
220 1.59 1.587 1.607 502.43 3.743
280 1.631 1.52 1.668 502.43 3.87
380 1.397 1.296 1.579 502.43 3.62
EOD
$v2 << EOD
# budget_MiB decode_tok_s min max MiB_read_per_token disk_limit_tok_s
160 1.975 1.743 1.993 522.65 3.579
220 2.255 2.174 2.279 505.55 3.871
280 2.274 2.069 2.336 431.44 4.662
380 2.121 1.877 2.128 434.51 4.064
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
