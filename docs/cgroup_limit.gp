# cgroup_limit.gp: written by tensql bench --sweep; run `gnuplot cgroup_limit.gp` here to redraw cgroup_limit.png
$v0 << EOD
# budget_MiB decode_tok_s min max MiB_read_per_token
150 1.136 1.095 1.147 360.28
200 1.39 1.234 1.509 310.30
280 1.702 1.693 1.891 230.32
EOD
$v1 << EOD
# budget_MiB decode_tok_s min max MiB_read_per_token
150 0.7357 0.7317 0.7524 359.61
200 0.9048 0.8526 0.9505 309.63
280 1.166 1.133 1.202 229.70
EOD
$v2 << EOD
# budget_MiB decode_tok_s min max MiB_read_per_token
150 0.5444 0.5246 0.5538 500.79
200 0.5366 0.5138 0.5643 500.79
280 0.5838 0.5491 0.6477 500.79
EOD
$v3 << EOD
# budget_MiB decode_tok_s min max MiB_read_per_token
150 0.5899 0.5298 0.6048 500.79
200 0.5789 0.5309 0.677 500.79
280 0.6522 0.5528 0.6907 500.79
EOD
set terminal pngcairo size 1100,440 font 'sans,10'
set output 'cgroup_limit.png'
set termoption noenhanced
set multiplot layout 1,2 title "/tmp/q05n.db: 64-token prompt, 16 generated, 3 repeats, 1 thread, cgroup limit"
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
