# budget_sweep.gp: written by tensql bench --sweep; run `gnuplot budget_sweep.gp` here to redraw budget_sweep.png
$v0 << EOD
# budget_MiB decode_tok_s min max MiB_read_per_token
150 1.506 0.884 1.513 547.15
250 1.882 1.754 1.911 393.23
350 1.617 1.533 1.827 228.25
600 18.59 17.93 19.64 0.00
EOD
$v1 << EOD
# budget_MiB decode_tok_s min max MiB_read_per_token
150 1.146 0.7758 1.186 357.16
250 1.746 1.438 1.818 257.22
350 1.861 1.762 2.018 157.22
600 16.76 15.17 17.83 0.00
EOD
$v2 << EOD
# budget_MiB decode_tok_s min max MiB_read_per_token
150 0.8065 0.7339 0.8343 500.79
250 0.738 0.6241 0.9332 500.79
350 0.6187 0.5379 0.6424 500.79
600 17.16 16.79 17.57 0.00
EOD
$v3 << EOD
# budget_MiB decode_tok_s min max MiB_read_per_token
150 0.8259 0.7993 0.8644 500.79
250 0.6835 0.6221 0.9141 500.79
350 0.6038 0.5786 0.6221 500.79
600 16.25 15.16 16.65 0.00
EOD
set terminal pngcairo size 1100,440 font 'sans,10'
set output 'budget_sweep.png'
set termoption noenhanced
set multiplot layout 1,2 title "/tmp/q05.db: 64-token prompt, 16 generated, 3 repeats, 1 thread"
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
