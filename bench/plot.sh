#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
#
# bench/plot.sh RESULTS.json [OUT.png] - plot hand-off items/s over the producer count from a
# tsq-bench JSON report (--benchmark_format=json or --benchmark_out=FILE), one line per
# implementation, free-running and window:256 side by side. Medians are used when the run
# had --benchmark_repetitions, otherwise the mean of the runs of each benchmark.
# Needs a POSIX awk and gnuplot (gnuplot-nox). Default output: bench/results/handoff.png.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
json=${1:?usage: plot.sh RESULTS.json [OUT.png]}
out=${2:-$here/results/handoff.png}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

# Google Benchmark's JSON has one "key": value per line; that is all this relies on.
awk -v dir="$tmp" '
function val(line) { sub(/^[^:]*: */, "", line); sub(/,$/, "", line); gsub(/"/, "", line); return line }
/"num_cpus":/ { cpus = val($0) }
/"date":/ && date == "" { date = substr(val($0), 1, 10) }
/"family_index":/ { fam = val($0) + 0 }
/"run_name":/ { run = val($0); type = ""; agg = ""; ips = ""; err = 0 }
/"run_type":/ { type = val($0) }
/"aggregate_name":/ { agg = val($0) }
/"error_occurred":/ { err = (val($0) == "true") }
/"items_per_second":/ { ips = val($0) }
/^    }/ {
	if (run !~ /^handoff\// || ips == "" || err) { run = ""; next }
	if (type == "aggregate" && agg == "median") median[run] = ips
	else if (type == "iteration") { sum[run] += ips; cnt[run]++ }
	if (!(run in seen)) { seen[run] = 1; order[n++] = run }
	split(run, part, "/")
	if (!(part[2] in implfam) || fam < implfam[part[2]]) implfam[part[2]] = fam
	run = ""
}
END {
	# Implementations in registration order (family_index), the same in both panels, so
	# that each keeps its colour whatever order --benchmark_enable_random_interleaving ran.
	ni = 0
	for (impl in implfam) {
		for (j = ni++; j > 0 && implfam[impls[j - 1]] > implfam[impl]; j--) impls[j] = impls[j - 1]
		impls[j] = impl
	}
	for (i = 0; i < n; i++) {
		r = order[i]; split(r, part, "/")
		impl = part[2]; mode = (part[3] ~ /^window:/) ? "window" : "free"
		p = r; sub(/.*producers:/, "", p); p += 0
		v = (r in median) ? median[r] : sum[r] / cnt[r]
		if (!((mode, p) in hasp)) { hasp[mode, p] = 1; ps[mode, np[mode]++] = p }
		data[mode, impl, p] = v / 1e6
		if (p > maxp) maxp = p
	}
	for (m = 0; m < 2; m++) {
		mode = m ? "window" : "free"; f = dir "/" mode ".dat"
		line = "producers"
		for (j = 0; j < ni; j++) line = line " " impls[j]
		print line > f
		# Producer counts ascending (they may have run in any order).
		for (a = 1; a < np[mode]; a++)
			for (b = a; b > 0 && ps[mode, b - 1] > ps[mode, b]; b--) {
				t = ps[mode, b]; ps[mode, b] = ps[mode, b - 1]; ps[mode, b - 1] = t
			}
		for (k = 0; k < np[mode]; k++) {
			p = ps[mode, k]; line = p
			for (j = 0; j < ni; j++)
				line = line " " (((mode, impls[j], p) in data) ? data[mode, impls[j], p] : "?")
			print line > f
		}
		close(f)
		print ni > (dir "/" mode ".n")
	}
	print maxp + 0 > (dir "/maxp"); print cpus + 0 > (dir "/cpus"); print date > (dir "/date")
}' "$json"

if [ "$(cat "$tmp/maxp")" -eq 0 ]; then
	echo "plot.sh: no handoff/ results in $json" >&2
	exit 1
fi
gnuplot -e "dir='$tmp'; outfile='$out'; maxp=$(cat "$tmp/maxp"); cpus=$(cat "$tmp/cpus");
	nfree=$(cat "$tmp/free.n"); nwin=$(cat "$tmp/window.n"); rundate='$(cat "$tmp/date")'" \
	"$here/plot-handoff.gp"
echo "plot.sh: wrote $out"
