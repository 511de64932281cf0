# budget_sweep_1t.gp: written by tensql bench --sweep; run `gnuplot budget_sweep_1t.gp` here to redraw budget_sweep_1t.png
$v0 << EOD
# budget_MiB decode_tok_s min max MiB_read_per_token disk_limit_tok_s
160 4.759 4.676 5.027 356.21 4.763
220 6.2 5.825 6.36 295.70 6.003
280 7.221 6.776 7.287 234.68 7.855
380 10.17 7.344 11.2 132.50 14.22
EOD
$v1 << EOD
# budget_MiB decode_tok_s min max MiB_read_per_token disk_limit_tok_s
160 1.51 1.449 1.53 502.43 3.377
220 1.579 1.504 1.634 502.43 3.533
280 1.469 1.338 1.541 502.43 3.669
380 1.383 1.37 1.385 502.43 3.749
EOD
$v2 << EOD
# budget_MiB decode_tok_s min max MiB_read_per_token disk_limit_tok_s
160 2.097 1.991 2.127 526.90 3.22
220 2.107 2.088 2.238 491.22 3.613
280 2.229 2.09 2.235 446.34 4.13
380 2.043 1.644 2.265 438.14 4.299
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
