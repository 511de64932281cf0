# cgroup_limit.gp: written by tensql bench --sweep; run `gnuplot cgroup_limit.gp` here to redraw cgroup_limit.png
$v0 << EOD
# budget_MiB decode_tok_s min max MiB_read_per_token
150 0.4074 0.2935 0.6508 497.59
200 0.4514 0.4361 0.6249 422.08
280 0.3651 0.3371 0.4061 359.86
EOD
$v1 << EOD
# budget_MiB decode_tok_s min max MiB_read_per_token
150 0.4676 0.2634 0.6956 357.16
200 0.5638 0.5497 0.6282 307.17
280 0.5546 0.5417 0.6255 227.22
EOD
$v2 << EOD
# budget_MiB decode_tok_s min max MiB_read_per_token
150 0.4558 0.4556 0.5412 580.62
200 0.4702 0.4462 0.4763 577.94
280 0.373 0.3399 0.376 545.65
EOD
$v3 << EOD
# budget_MiB decode_tok_s min max MiB_read_per_token
150 0.3372 0.2977 0.3504 500.79
200 0.3327 0.3166 0.3535 500.79
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
