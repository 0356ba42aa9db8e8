# SPDX-License-Identifier: BSD-2-Clause
#
# bench/plot-handoff.gp - hand-off items/s over the producer count; run through bench/plot.sh,
# which passes: dir (data files free.dat / window.dat), outfile, maxp, cpus, nfree, nwin,
# rundate. Log scale: the implementations span two orders of magnitude.

set terminal pngcairo size 1400,560 font ",10" noenhanced
set output outfile
set datafile missing "?"
set key outside right top vertical font ",9"
set logscale y
set grid ytics mytics xtics
set xlabel "producers (P)"
set ylabel "items/s (millions, log scale)"
set xrange [0.5:maxp + 0.5]
set xtics 1
set style data linespoints
set pointsize 1.3

set multiplot layout 1,2 title sprintf("tsq-bench hand-off, %d CPUs, %s (P = 1..%d)", cpus, rundate, maxp)
set title "free-running"
plot for [i=2:nfree+1] dir."/free.dat" using 1:i title columnheader(i) lw 2
set title "steady state: window:256"
plot for [i=2:nwin+1] dir."/window.dat" using 1:i title columnheader(i) lw 2
unset multiplot
