# cgroup_limit.gp: written by tensql bench --sweep; run `gnuplot cgroup_limit.gp` here to redraw cgroup_limit.png
$v0 << EOD
# budget_MiB decode_tok_s min max MiB_read_per_token
150 0.572 0.5674 0.727 360.66
200 0.8468 0.7147 0.8729 310.65
280 1.188 1.132 1.205 230.42
EOD
$v1 << EOD
# budget_MiB decode_tok_s min max MiB_read_per_token
150 0.7519 0.5507 0.8205 360.33
200 0.8836 0.8339 0.9023 310.38
280 1.114 1.087 1.199 230.33
EOD
$v2 << EOD
# budget_MiB decode_tok_s min max MiB_read_per_token
150 0.389 0.3591 0.5137 500.79
200 0.4475 0.4308 0.4935 500.79
280 0.479 0.3806 0.5186 500.79
EOD
$v3 << EOD
# budget_MiB decode_tok_s min max MiB_read_per_token
150 0.4527 0.4238 0.5174 500.79
200 0.4839 0.4146 0.522 500.79
280 0.4864 0.478 0.5235 500.79
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
