# budget_sweep.gp: written by tensql bench --sweep; run `gnuplot budget_sweep.gp` here to redraw budget_sweep.png
$v0 << EOD
# budget_MiB decode_tok_s min max MiB_read_per_token
150 1.784 1.474 2.115 361.75
250 2.179 1.755 2.974 261.54
350 3.274 2.693 3.416 161.31
600 21.01 20.03 22.51 0.00
EOD
$v1 << EOD
# budget_MiB decode_tok_s min max MiB_read_per_token
150 1.656 1.469 1.691 360.33
250 1.507 1.313 2.34 260.31
350 2.673 2.614 2.758 160.22
600 23.1 20.78 23.72 0.00
EOD
$v2 << EOD
# budget_MiB decode_tok_s min max MiB_read_per_token
150 0.9116 0.7474 1.068 500.79
250 0.8555 0.7964 0.9169 500.79
350 1.008 0.7617 1.058 500.79
600 22.15 20.35 22.51 0.00
EOD
$v3 << EOD
# budget_MiB decode_tok_s min max MiB_read_per_token
150 0.9872 0.8532 1.096 500.79
250 0.8684 0.7392 0.8787 500.79
350 0.8602 0.7571 0.8987 500.79
600 22.03 19.74 23.23 0.00
EOD
set terminal pngcairo size 1100,440 font 'sans,10'
set output 'budget_sweep.png'
set termoption noenhanced
set multiplot layout 1,2 title "/tmp/q05n.db: 64-token prompt, 16 generated, 3 repeats, 1 thread"
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
