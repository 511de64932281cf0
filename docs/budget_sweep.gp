# budget_sweep.gp: written by tensql bench --sweep; run `gnuplot budget_sweep.gp` here to redraw budget_sweep.png
$v0 << EOD
# budget_MiB decode_tok_s min max MiB_read_per_token
150 0.59 0.5457 0.669 360.82
250 0.9012 0.8546 0.9133 261.57
350 1.436 1.273 1.734 160.56
600 39.09 30.43 40.7 0.00
EOD
$v1 << EOD
# budget_MiB decode_tok_s min max MiB_read_per_token
150 0.5776 0.5774 0.627 360.39
250 0.8623 0.8429 0.9786 260.43
350 1.505 1.283 1.56 160.42
600 38.97 30.36 40.28 0.00
EOD
$v2 << EOD
# budget_MiB decode_tok_s min max MiB_read_per_token
150 0.3996 0.3706 0.4112 500.79
250 0.439 0.3874 0.4744 500.79
350 0.3822 0.3713 0.3951 500.79
600 36.84 30.99 38.03 0.00
EOD
$v3 << EOD
# budget_MiB decode_tok_s min max MiB_read_per_token
150 0.3899 0.3706 0.4686 500.79
250 0.4726 0.4267 0.4975 500.79
350 0.4008 0.3732 0.4453 500.79
600 36.41 30.65 38.77 0.00
EOD
set terminal pngcairo size 1100,440 font 'sans,10'
set output 'budget_sweep.png'
set termoption noenhanced
set multiplot layout 1,2 title "/tmp/q05s.db: 64-token prompt, 16 generated, 3 repeats, 1 thread"
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
