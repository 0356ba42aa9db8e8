# SPDX-License-Identifier: BSD-2-Clause
# The probe's queueing delay over time, without TSQ and with tsq_budget, at 1 Gbit/s and
# 100 Mbit/s: the seed's "< 1 ms instead of 50 ms", "< 8 ms instead of 132 ms" experiment.
#
#   ./build/bench/tsq-sim-bufferbloat --trace /tmp/bufferbloat.dat
#   gnuplot -e "data='/tmp/bufferbloat.dat'; out='bench/results/bufferbloat.png'" bench/plot-bufferbloat.gp
#
# The data file has one block per run (gnuplot index), in the program's order:
#   0 1G/none  1 1G/seed  2 1G/today  3 1G/default
#   4 100M/none  5 100M/seed  6 100M/today  7 100M/default (no rate given: learned)
if (!exists("data")) data = 'bufferbloat.dat'
if (!exists("out")) out = 'bufferbloat.png'
if (!exists("tmax")) tmax = 1.0

set terminal pngcairo size 1200,520 font ",10" noenhanced
set output out
set multiplot layout 1,2 title "Probe (100 B ping) queueing delay behind one bulk flow in a FIFO - deterministic simulation, tsq_budget"
set logscale y
set yrange [0.1:1000]
set xrange [0:tmax]
set xlabel "simulated time (s)"
set ylabel "queueing delay (ms, log)"
set grid ytics mytics xtics
set key bottom right opaque box
set format y "%g"

set title "1 Gbit/s (seed: 50 ms -> < 1 ms)"
plot data index 0 using 1:2 with lines lw 2 lc rgb "#c0392b" title "no TSQ (4 MiB sndbuf)", \
     data index 1 using 1:2 with lines lw 1 lc rgb "#2471a3" title "tsq seed (cap 128 KiB)", \
     data index 2 using 1:2 with lines lw 1 lc rgb "#229954" title "tsq today (~1 ms at link rate)", \
     data index 3 using 1:2 with lines lw 1 dt 3 lc rgb "#7d3c98" title "tsq defaults (rate learned)", \
     1.0 with lines dt 2 lw 2 lc rgb "#000000" title "seed's 1 ms"

set title "100 Mbit/s (seed: 132 ms -> < 8 ms)"
plot data index 4 using 1:2 with lines lw 2 lc rgb "#c0392b" title "no TSQ (4 MiB sndbuf)", \
     data index 5 using 1:2 with lines lw 1 lc rgb "#2471a3" title "tsq seed (cap 128 KiB)", \
     data index 6 using 1:2 with lines lw 1 lc rgb "#229954" title "tsq today (~1 ms at link rate)", \
     data index 7 using 1:2 with lines lw 1 dt 3 lc rgb "#7d3c98" title "tsq defaults (rate learned)", \
     8.0 with lines dt 2 lw 2 lc rgb "#000000" title "seed's 8 ms"

unset multiplot
