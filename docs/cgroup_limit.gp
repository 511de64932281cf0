# cgroup_limit.gp: written by tensql bench --sweep; run `gnuplot cgroup_limit.gp` here to redraw cgroup_limit.png
$v0 << EOD
# budget_MiB decode_tok_s min max MiB_read_per_token
150 1.229 1.101 1.292 548.00
200 1.411 1.281 1.518 471.29
280 1.57 1.465 1.858 347.92
EOD
$v1 << EOD
# budget_MiB decode_tok_s min max MiB_read_per_token
150 1.089 0.9209 1.12 357.50
200 1.29 1.039 1.402 307.52
280 1.488 1.438 1.845 227.50
EOD
$v2 << EOD
# budget_MiB decode_tok_s min max MiB_read_per_token
150 0.7253 0.6482 0.8399 500.79
200 0.7738 0.6985 0.8982 500.79
280 0.8171 0.8093 0.8583 500.79
EOD
$v3 << EOD
# budget_MiB decode_tok_s min max MiB_read_per_token
150 0.7356 0.714 0.7896 500.79
200 0.7218 0.6956 0.8634 500.79
280 0.8136 0.7547 0.8652 500.79
EOD
set terminal pngcairo size 1100,440 font 'sans,10'
set output 'cgroup_limit.png'
set termoption noenhanced
set multiplot layout 1,2 title "/tmp/q05.db: 64-token prompt, 16 generated, 3 repeats, 1 thread, cgroup limit"
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
