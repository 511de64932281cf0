# cgroup_limit.gp: written by tensql bench --sweep; run `gnuplot cgroup_limit.gp` here to redraw cgroup_limit.png
$v0 << EOD
# budget_MiB decode_tok_s min max MiB_read_per_token
150 0.6556 0.6451 0.7169 360.67
200 0.7359 0.7073 0.767 310.91
280 1.003 0.9985 1.133 230.70
EOD
$v1 << EOD
# budget_MiB decode_tok_s min max MiB_read_per_token
150 0.7113 0.4463 0.7496 360.39
200 0.8051 0.7174 0.8305 310.42
280 0.974 0.9402 1.246 230.36
EOD
$v2 << EOD
# budget_MiB decode_tok_s min max MiB_read_per_token
150 0.382 0.3683 0.4457 500.79
200 0.4105 0.4075 0.4538 500.79
280 0.466 0.431 0.4905 500.79
EOD
$v3 << EOD
# budget_MiB decode_tok_s min max MiB_read_per_token
150 0.4176 0.3535 0.4306 500.79
200 0.4441 0.4279 0.4457 500.79
280 0.4646 0.4248 0.4949 500.79
EOD
set terminal pngcairo size 1100,440 font 'sans,10'
set output 'cgroup_limit.png'
set termoption noenhanced
set multiplot layout 1,2 title "/tmp/q05s.db: 64-token prompt, 16 generated, 3 repeats, 1 thread, cgroup limit"
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
W = 500.63
plot $v0 using 1:5 with linespoints lw 2 title 'OPT + prefetch', $v1 using 1:5 with linespoints lw 2 title 'OPT', $v2 using 1:5 with linespoints lw 2 title 'LRU + prefetch', $v3 using 1:5 with linespoints lw 2 title 'LRU', (W - x > 0 ? W - x : 0) with lines dt 2 lc 'black' title 'optimum: weights - budget'
unset multiplot
