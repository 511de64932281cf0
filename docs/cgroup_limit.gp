# cgroup_limit.gp: written by tensql bench --sweep; run `gnuplot cgroup_limit.gp` here to redraw cgroup_limit.png
$v0 << EOD
# budget_MiB decode_tok_s min max MiB_read_per_token
150 0.6473 0.4172 0.672 360.88
200 0.6876 0.634 0.767 310.70
280 0.9532 0.8426 1.074 230.72
EOD
$v1 << EOD
# budget_MiB decode_tok_s min max MiB_read_per_token
150 0.6709 0.5806 0.6931 360.39
200 0.7807 0.696 0.7812 310.42
280 0.9808 0.916 1.052 230.36
EOD
$v2 << EOD
# budget_MiB decode_tok_s min max MiB_read_per_token
150 0.4271 0.3878 0.4293 500.79
200 0.4054 0.3424 0.4559 500.79
280 0.3999 0.3105 0.4345 500.79
EOD
$v3 << EOD
# budget_MiB decode_tok_s min max MiB_read_per_token
150 0.4233 0.3833 0.4303 500.79
200 0.4038 0.3616 0.4263 500.79
280 0.4234 0.4152 0.4392 500.79
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
