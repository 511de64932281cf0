# cgroup_limit.gp: written by tensql bench --sweep; run `gnuplot cgroup_limit.gp` here to redraw cgroup_limit.png
$v0 << EOD
# budget_MiB decode_tok_s min max MiB_read_per_token
150 1.346 1.321 1.428 361.55
200 2.12 2.111 2.332 311.73
280 2.254 2.155 2.943 231.38
EOD
$v1 << EOD
# budget_MiB decode_tok_s min max MiB_read_per_token
150 1.316 1.11 1.479 360.33
200 1.616 1.435 1.993 310.38
280 2.037 1.573 2.25 230.33
EOD
$v2 << EOD
# budget_MiB decode_tok_s min max MiB_read_per_token
150 0.7344 0.6931 0.7853 500.79
200 1.018 0.7792 1.028 500.79
280 0.9414 0.8018 1.063 500.79
EOD
$v3 << EOD
# budget_MiB decode_tok_s min max MiB_read_per_token
150 0.8223 0.6992 0.8931 500.79
200 0.9532 0.7464 1.118 500.79
280 0.7611 0.6511 1.036 500.79
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
