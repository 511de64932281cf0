# cgroup_limit.gp: written by tensql bench --sweep; run `gnuplot cgroup_limit.gp` here to redraw cgroup_limit.png
$v0 << EOD
# budget_MiB decode_tok_s min max MiB_read_per_token
150 1.922 1.717 1.927 361.14
200 2.18 1.617 2.304 311.09
280 2.63 2.538 2.914 231.06
EOD
$v1 << EOD
# budget_MiB decode_tok_s min max MiB_read_per_token
150 1.334 1.093 1.403 360.33
200 1.578 1.2 1.63 310.38
280 2.148 1.89 2.174 230.33
EOD
$v2 << EOD
# budget_MiB decode_tok_s min max MiB_read_per_token
150 0.811 0.6907 0.8525 500.79
200 0.8905 0.7964 0.911 500.79
280 0.8575 0.7705 0.8851 500.79
EOD
$v3 << EOD
# budget_MiB decode_tok_s min max MiB_read_per_token
150 0.924 0.7964 0.9252 500.79
200 0.8648 0.8617 0.9884 500.79
280 0.7925 0.7792 0.8129 500.79
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
W = 500.63
plot $v0 using 1:5 with linespoints lw 2 title 'OPT + prefetch', $v1 using 1:5 with linespoints lw 2 title 'OPT', $v2 using 1:5 with linespoints lw 2 title 'LRU + prefetch', $v3 using 1:5 with linespoints lw 2 title 'LRU', (W - x > 0 ? W - x : 0) with lines dt 2 lc 'black' title 'optimum: weights - budget'
unset multiplot
