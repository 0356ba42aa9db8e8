#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause
#
# afxdp_test.sh CASE TSQ_XSK - one AF_XDP end-to-end test on the veth test bed.
#   tsq_xsk_rx       TSQ on, zerocopy on, AF_XDP receiver (owner backlog in use)
#   tsq_xsk_zc_wrap  zerocopy ids crossing 2^32, every 7th message copied (COPIED exact)
#   tsq_udp_peer     a kernel UDP socket on the ULA address as the independent receiver
#   tsq_off_xsk_rx   TSQ and BQL off (ring kept full), AF_XDP receiver
#   tsq_json         "schema": 1 in every document; percentiles without samples are null
#   tsq_link_down    a link down before the run, and one lost during it: exit 1, "link down
#                    on <if>" on stderr, within seconds; a receiver only warns
#   tsq_caps         root without CAP_NET_RAW / CAP_BPF: exit 77 naming the capability
#   tsq_bql_flows    8 bulk flows, TSQ+BQL, AF_XDP receiver: exactly once per flow; BQL
#                    stopped and restarted the queue and kept the TX ring below TSQ's 8 x 64
#   tsq_queues2      a veth with 2 queues, 2 workers (--queues 2) on each side, 4 bulk flows:
#                    exactly once per flow, both queues carried their flows, BQL per queue
#   tsq_matrix       matrix --json: bare, bare+build, TSQ off, TSQ, BQL, TSQ+BQL with their
#                    booleans; the bare sender (both ways) sent and leaked nothing
#   tsq_fq_fair      8 bulk flows backlogged in the worker (TSQ+BQL), a probe, --qdisc fq:
#                    no probe frame leaves the worker's queues after more than one frame of
#                    each other flow per probe frame ahead of it (positions, no clock);
#                    exactly once per flow; with --qdisc fifo the same count exceeds it
#   tsq_build_worker --build-on worker (the worker writes each frame just before the TX
#                    ring): 8 bulk flows and a probe, TSQ+BQL, AF_XDP receiver: exactly once
#                    per flow; a kernel UDP socket as the peer (it drops bad checksums):
#                    exactly once; matrix --build-on both adds TSQ+BQL/wb to each round
# Checks: every sequence number of every flow arrives exactly once or is counted as a drop
# by the receiver's own statistics; every zerocopy id is notified exactly once; no UMEM frame
# leaks; no flow is left throttled with nothing in flight. Exit 77 (skipped) without root,
# network namespaces or AF_XDP, with the reason in one line. Bounded: counts and timeouts.
set -uo pipefail

CASE=${1:?case}
XSK=${2:?path to tsq-xsk}
HERE=$(cd "$(dirname "$0")" && pwd)
BED="$HERE/testbed.sh"
TMP=$(mktemp -d)
# The bed's names, unique per run (the PID: build directories and checkouts that test at the
# same time never share a bed); TSQ_TEST_BED=x makes them tsqx-a/tsqx-b, tsqxa0/tsqxb0.
BEDN=${TSQ_TEST_BED:-t$$}
export TSQ_NS_A=tsq$BEDN-a TSQ_NS_B=tsq$BEDN-b TSQ_IF_A=tsq${BEDN}a0 TSQ_IF_B=tsq${BEDN}b0

skip() { echo "SKIPPED: $*"; exit 77; }
fail() { echo "FAIL: $*"; [[ -f $TMP/tx.json ]] && cat "$TMP/tx.json"; [[ -f $TMP/rx.json ]] && cat "$TMP/rx.json"; exit 1; }
cleanup() {
	[[ -n ${RX_PID:-} ]] && kill "$RX_PID" 2>/dev/null && wait "$RX_PID" 2>/dev/null
	[[ -n ${TX_PID:-} ]] && kill "$TX_PID" 2>/dev/null && wait "$TX_PID" 2>/dev/null
	"$BED" down >/dev/null 2>&1
	rm -rf "$TMP"
}
trap cleanup EXIT

[[ $(id -u) -eq 0 ]] || skip "needs root for network namespaces and AF_XDP"
command -v ip >/dev/null || skip "iproute2 ('ip') is not installed"
command -v jq >/dev/null || skip "jq is not installed (scripts/install-deps.sh installs it)"
BED_QUEUES=1
[[ $CASE == tsq_queues2 ]] && BED_QUEUES=2
"$BED" up --queues "$BED_QUEUES" >"$TMP/bed.log" 2>&1 || skip "cannot create network namespaces/veth here: $(tail -1 "$TMP/bed.log")"

A() { ip netns exec "$TSQ_NS_A" "$@"; }
B() { ip netns exec "$TSQ_NS_B" "$@"; }

start_rx() { # $1: rx | rx-udp
	local extra=()
	[[ $1 == rx ]] && extra=(-i "$TSQ_IF_B" --queues "$BED_QUEUES")
	B timeout 90 "$XSK" "$1" "${extra[@]}" -d 60 --idle-exit 1000 --json --ready-file "$TMP/ready" \
		>"$TMP/rx.json" 2>"$TMP/rx.err" &
	RX_PID=$!
	for _ in $(seq 100); do [[ -f $TMP/ready ]] && return 0; kill -0 "$RX_PID" 2>/dev/null || break; sleep 0.1; done
	wait "$RX_PID"; local rc=$?
	[[ $rc -eq 77 ]] && skip "receiver: $(tail -1 "$TMP/rx.err")"
	fail "receiver did not start (rc $rc): $(cat "$TMP/rx.err")"
}

run_tx() {
	A timeout 60 "$XSK" tx -i "$TSQ_IF_A" --quiet --json "$@" >"$TMP/tx.json" 2>"$TMP/tx.err"
	local rc=$?
	[[ $rc -eq 77 ]] && skip "sender: $(tail -1 "$TMP/tx.err")"
	[[ $rc -eq 0 ]] || fail "sender exited $rc: $(cat "$TMP/tx.err")"
	wait "$RX_PID" || fail "receiver exited $?: $(cat "$TMP/rx.err")"
	RX_PID=
}

q() { jq -r "$1" "$2"; }
# jq -e: the expression must hold.
want() { jq -e "$1" "$2" >/dev/null || fail "$2: $1 does not hold"; }

check_common() {
	local tx=$TMP/tx.json rx=$TMP/rx.json sent received drops dups missing
	want '.schema == 1' "$tx"
	want '.schema == 1' "$rx"
	[[ $(q '.runs[0].quiesced' "$tx") == true ]] || fail "sender did not quiesce (frames stuck)"
	[[ $(q '.runs[0].umem_frames_leaked' "$tx") == 0 ]] || fail "UMEM frames leaked"
	[[ $(q '.runs[0].throttled_idle_flows' "$tx") == 0 ]] || fail "a flow was left throttled with nothing in flight"
	[[ $(q '.runs[0].worker.kick_errors' "$tx") == 0 ]] || fail "sendto kick errors"
	sent=$(q '[.runs[0].flows[].sent] | add' "$tx")
	received=$(q '.received' "$rx")
	drops=$(q '.drops' "$rx")
	dups=$(q '.duplicates' "$rx")
	missing=$(q '.missing' "$rx")
	[[ $sent -gt 0 ]] || fail "nothing was sent"
	[[ $dups == 0 ]] || fail "$dups duplicate frames"
	# Exactly once: nothing arrives twice or more often than sent, and every frame that did
	# not arrive is covered by a drop the receiver counted itself. (Its counters also count
	# foreign frames dropped on the link - IPv6 neighbour/MLD traffic - so drops may exceed
	# the frames lost, never the other way round.)
	[[ $received -le $sent ]] || fail "received $received > sent $sent"
	[[ $((sent - received)) -le $drops ]] || fail "sent $sent, received $received: $((sent - received)) lost but only $drops drops counted"
	[[ $missing -le $drops ]] || fail "$missing sequence numbers missing but only $drops drops counted"
	for id in $(q '.runs[0].flows[].id' "$tx"); do
		local s r
		s=$(q ".runs[0].flows[] | select(.id == $id) | .sent" "$tx")
		r=$(q "[.flows[] | select(.id == $id) | .max_seq + 1] | add // 0" "$rx")
		# The receiver's highest sequence + 1 never exceeds what the sender completed.
		[[ $r -le $s ]] || fail "flow $id: receiver saw seq $((r - 1)) but only $s were sent"
		[[ $drops != 0 || $r == "$s" ]] || fail "flow $id: $s sent, last seq seen $((r - 1)), no drops"
	done
	echo "sent $sent, received $received, drops $drops (receiver-counted), duplicates 0"
}

check_zc() {
	local tx=$TMP/tx.json
	[[ $(q '.runs[0].zc.sends' "$tx") -gt 0 ]] || fail "no zerocopy sends"
	[[ $(q '.runs[0].zc.ids_missing' "$tx") == 0 ]] || fail "zerocopy ids never notified"
	[[ $(q '.runs[0].zc.ids_duplicate' "$tx") == 0 ]] || fail "zerocopy ids notified twice"
	[[ $(q '.runs[0].zc.ids_notified' "$tx") == $(q '.runs[0].zc.sends' "$tx") ]] || fail "notified != sends"
	[[ $(q '.runs[0].zc.copied_ids' "$tx") == $(q '.runs[0].zc.copied_sends' "$tx") ]] ||
		fail "COPIED notices do not cover exactly the copied sends"
	echo "zerocopy: $(q '.runs[0].zc.sends' "$tx") sends, $(q '.runs[0].zc.notices' "$tx") notices, copied $(q '.runs[0].zc.copied_sends' "$tx")"
}

case $CASE in
tsq_xsk_rx)
	start_rx rx
	run_tx --tsq on -z on -n 300000 -d 20 -r 2000
	check_common; check_zc
	want '.runs[0].probe_samples > 0 and (.runs[0].probe_latency_us_p99 | type) == "number"' "$TMP/tx.json"
	[[ $(q '.backlogged' "$TMP/rx.json") -gt 0 ]] || echo "note: no frame went through the owner backlog this run"
	;;
tsq_xsk_zc_wrap)
	start_rx rx
	run_tx --tsq on -z on --copy-every 7 --zc-first-id 4294967200 -n 200000 -d 20 -r 1000
	check_common; check_zc
	;;
tsq_udp_peer)
	start_rx rx-udp
	run_tx --tsq on -n 100000 -d 20 -r 1000
	check_common
	;;
tsq_off_xsk_rx)
	start_rx rx
	run_tx --tsq off --bql off -n 200000 -d 20 -r 1000
	check_common
	;;
tsq_json)
	# No probe (-r 0), no zerocopy: no latency sample, no notice - null, never 0.
	A timeout 30 "$XSK" tx -i "$TSQ_IF_A" --quiet --json -r 0 -d 0.5 >"$TMP/tx.json" 2>"$TMP/tx.err"
	rc=$?
	[[ $rc -eq 77 ]] && skip "sender: $(tail -1 "$TMP/tx.err")"
	[[ $rc -eq 0 ]] || fail "tx exited $rc: $(cat "$TMP/tx.err")"
	want 'keys_unsorted[0] == "schema" and .schema == 1' "$TMP/tx.json"
	want '.runs[0] | .probe_samples == 0 and .probe_latency_us_p50 == null and
		.probe_latency_us_p99 == null and .probe_send_latency_us_p50 == null and
		.probe_send_latency_us_p99 == null and .zc_notices_per_send == null' "$TMP/tx.json"
	want '.runs[0] | (.txring_occupancy_p99 | type) == "number" and .bulk_pps > 0' "$TMP/tx.json"
	A timeout 30 "$XSK" compare -i "$TSQ_IF_A" --quiet --json -r 0 -d 0.3 >"$TMP/tx.json" 2>"$TMP/tx.err" ||
		fail "compare exited $?: $(cat "$TMP/tx.err")"
	want '.schema == 1 and (.runs | length) == 2 and .runs[0].tsq == false and .runs[1].tsq == true' "$TMP/tx.json"
	B timeout 30 "$XSK" sink -i "$TSQ_IF_B" -d 0.3 --json >"$TMP/rx.json" 2>"$TMP/rx.err" ||
		fail "sink exited $?: $(cat "$TMP/rx.err")"
	want '.schema == 1 and .role == "sink"' "$TMP/rx.json"
	start_rx rx
	run_tx --tsq on -n 1000 -d 10 -r 0
	check_common
	echo "schema 1 in tx, compare, sink, rx; no-sample figures are null"
	;;
tsq_link_down)
	# 1. The peer is down (no carrier): refused before the run.
	ip -n "$TSQ_NS_B" link set "$TSQ_IF_B" down
	A timeout 30 "$XSK" tx -i "$TSQ_IF_A" --quiet -d 2 >/dev/null 2>"$TMP/tx.err"
	rc=$?
	[[ $rc -eq 1 ]] || fail "no carrier: tx exited $rc, want 1: $(cat "$TMP/tx.err")"
	grep -q "link down on $TSQ_IF_A" "$TMP/tx.err" || fail "no carrier: stderr says: $(cat "$TMP/tx.err")"
	# 2. A receiver on a down link warns and runs.
	B timeout 30 "$XSK" rx -i "$TSQ_IF_B" -d 0.3 --json >"$TMP/rx.json" 2>"$TMP/rx.err"
	rc=$?
	[[ $rc -eq 77 ]] && skip "receiver: $(tail -1 "$TMP/rx.err")"
	[[ $rc -eq 0 ]] || fail "rx on a down link exited $rc: $(cat "$TMP/rx.err")"
	grep -q "warning: link down on $TSQ_IF_B" "$TMP/rx.err" || fail "rx on a down link: no warning"
	ip -n "$TSQ_NS_B" link set "$TSQ_IF_B" up
	# 3. The sender's own interface goes down mid-run: the kicks fail with ENETDOWN; the
	# worker backs off and tx gives up after a second, saying why.
	for _ in $(seq 50); do ip -n "$TSQ_NS_A" link show "$TSQ_IF_A" | grep -q LOWER_UP && break; sleep 0.1; done
	start=$(date +%s)
	A timeout 60 "$XSK" tx -i "$TSQ_IF_A" --quiet -d 30 >/dev/null 2>"$TMP/tx.err" &
	TX_PID=$!
	sleep 1
	ip -n "$TSQ_NS_A" link set "$TSQ_IF_A" down
	wait "$TX_PID"
	rc=$?
	TX_PID=
	elapsed=$(($(date +%s) - start))
	[[ $rc -eq 1 ]] || fail "link lost mid-run: tx exited $rc, want 1: $(cat "$TMP/tx.err")"
	grep -q "link down on $TSQ_IF_A" "$TMP/tx.err" || fail "link lost mid-run: stderr says: $(cat "$TMP/tx.err")"
	[[ $elapsed -le 10 ]] || fail "link lost mid-run: tx took ${elapsed}s to give up"
	echo "link down: refused before the run; lost mid-run: $(cat "$TMP/tx.err") (${elapsed}s)"
	;;
tsq_caps)
	command -v setpriv >/dev/null || skip "setpriv (util-linux) is not installed"
	# Root, but without the capability: what counts is the capability, not the user id.
	A setpriv --bounding-set=-net_raw "$XSK" tx -i "$TSQ_IF_A" -d 0.2 >/dev/null 2>"$TMP/tx.err"
	rc=$?
	[[ $rc -eq 77 ]] || fail "tx without CAP_NET_RAW exited $rc, want 77: $(cat "$TMP/tx.err")"
	grep -q "CAP_NET_RAW" "$TMP/tx.err" || fail "tx without CAP_NET_RAW: $(cat "$TMP/tx.err")"
	B setpriv --bounding-set=-bpf,-sys_admin "$XSK" rx -i "$TSQ_IF_B" -d 0.2 >/dev/null 2>"$TMP/rx.err"
	rc=$?
	[[ $rc -eq 77 ]] || fail "rx without CAP_BPF exited $rc, want 77: $(cat "$TMP/rx.err")"
	grep -q "CAP_BPF" "$TMP/rx.err" || fail "rx without CAP_BPF: $(cat "$TMP/rx.err")"
	# And only with the capabilities it names (no CAP_SYS_ADMIN), tx runs.
	A setpriv --bounding-set=-all,+net_raw,+ipc_lock "$XSK" tx -i "$TSQ_IF_A" -d 0.3 --quiet --json \
		>"$TMP/tx.json" 2>"$TMP/tx.err" || fail "tx with CAP_NET_RAW and CAP_IPC_LOCK only exited $?: $(cat "$TMP/tx.err")"
	want '.schema == 1 and .runs[0].bulk_pps > 0' "$TMP/tx.json"
	echo "capabilities: $(cat "$TMP/rx.err")"
	;;
tsq_bql_flows)
	start_rx rx
	run_tx --tsq on --bql on --bulk-flows 8 -n 30000 -d 20 -r 2000
	check_common
	want '.runs[0] | .bql == true and .tsq == true and .bulk_flows == 8 and (.flows | length) == 9' "$TMP/tx.json"
	want '.runs[0].bql_stats | .stops > 0 and .restarts > 0 and .limit > 0' "$TMP/tx.json"
	# TSQ alone lets 8 flows x 64 frames sit in the ring; BQL keeps it far below that.
	want '.runs[0].txring_occupancy_p99 < 8 * 64' "$TMP/tx.json"
	echo "BQL: limit $(q '.runs[0].bql_stats.limit' "$TMP/tx.json") bytes, $(q '.runs[0].bql_stats.stops' "$TMP/tx.json") stops, TX ring p99 $(q '.runs[0].txring_occupancy_p99' "$TMP/tx.json")"
	;;
tsq_queues2)
	start_rx rx
	run_tx --queues 2 --bulk-flows 4 -n 30000 -d 20 -r 1000
	check_common
	want '.runs[0] | .queues == 2 and (.workers | length) == 2 and ([.workers[].queue] == [0, 1])' "$TMP/tx.json"
	# Flow i is homed on worker i % 2: each queue carried exactly its flows' frames.
	want '.runs[0] | ([.flows[] | select(.id % 2 == 0) | .sent] | add) == .workers[0].tx_completed' "$TMP/tx.json"
	want '.runs[0] | ([.flows[] | select(.id % 2 == 1) | .sent] | add) == .workers[1].tx_completed' "$TMP/tx.json"
	want '.runs[0] | .workers | all(.tx_completed > 0 and .bql_limit > 0)' "$TMP/tx.json"
	# The receiver's own flows: every bulk flow arrived (both RX queues delivered).
	want '[.flows[] | select(.received > 0)] | length >= 4' "$TMP/rx.json"
	echo "2 queues: worker 0 $(q '.runs[0].workers[0].tx_completed' "$TMP/tx.json"), worker 1 $(q '.runs[0].workers[1].tx_completed' "$TMP/tx.json") frames"
	;;
tsq_matrix)
	B timeout 30 "$XSK" sink -i "$TSQ_IF_B" -d 20 --ready-file "$TMP/ready" >"$TMP/rx.err" 2>&1 &
	RX_PID=$!
	for _ in $(seq 50); do [[ -f $TMP/ready ]] && break; sleep 0.1; done
	[[ -f $TMP/ready ]] || fail "sink did not start: $(cat "$TMP/rx.err")"
	A timeout 60 "$XSK" matrix -i "$TSQ_IF_A" --bulk-flows 4 --rounds 1 -d 0.3 --quiet --json \
		>"$TMP/tx.json" 2>"$TMP/tx.err" || fail "matrix exited $?: $(cat "$TMP/tx.err")"
	want '.schema == 1 and (.runs | length) == 6' "$TMP/tx.json"
	want '[.runs[] | [.bare, .tsq, .bql]] == [[true,false,false],[true,false,false],[false,false,false],[false,true,false],[false,false,true],[false,true,true]]' "$TMP/tx.json"
	want '[.runs[] | .config] == ["bare","bare+build","TSQ off","TSQ","BQL","TSQ+BQL"]' "$TMP/tx.json"
	want '[.runs[] | .build_per_send] == [false,true,false,false,false,false]' "$TMP/tx.json"
	want '[.runs[] | .qdisc] == ["none","none","fq","fq","fq","fq"]' "$TMP/tx.json"
	want '.runs | all(.bulk_pps > 0 and .quiesced and .umem_frames_leaked == 0 and .queues == 1)' "$TMP/tx.json"
	want '.runs[0:2] | all(.probe_samples == 0 and .probe_latency_us_p99 == null and .probe_queue_wait.max == null and .bulk_flows == 1)' "$TMP/tx.json"
	want '.runs[2:] | all(.bulk_flows == 4 and .probe_samples > 0)' "$TMP/tx.json"
	want '.runs[4:] | all(.bql_stats.stops > 0)' "$TMP/tx.json"
	want '.runs[2:4] | all(.bql_stats.stops == 0 and .bql_stats.limit == 0)' "$TMP/tx.json"
	# --qdisc both: TSQ+BQL with a FIFO too, just before the fq one.
	A timeout 60 "$XSK" matrix -i "$TSQ_IF_A" --bulk-flows 2 --rounds 1 -d 0.2 --qdisc both --quiet --json \
		>"$TMP/tx.json" 2>"$TMP/tx.err" || fail "matrix --qdisc both exited $?: $(cat "$TMP/tx.err")"
	want '[.runs[] | .config] == ["bare","bare+build","TSQ off","TSQ","BQL","TSQ+BQL/fifo","TSQ+BQL"]' "$TMP/tx.json"
	echo "matrix: $(jq -r '[.runs[] | "\(.config) \(.bulk_pps)"] | join(", ")' "$TMP/tx.json") pps"
	;;
tsq_fq_fair)
	# TSQ+BQL with 8 bulk flows: BQL keeps about 65 frames in the ring, TSQ lets each flow
	# keep 64 in flight, so some 450 frames wait in the worker's queues - the probe's too.
	# The worker counts, for every probe frame, the frames of other flows that went into the
	# ring between its arrival and its own (positions, not time). fq's property: at most one
	# frame of each other flow homed on the worker per probe frame ahead of it, i.e. 8 x
	# (ahead + 1); "bound_exceeded" counts the probe frames that waited longer.
	start_rx rx
	run_tx --tsq on --bql on --qdisc fq --bulk-flows 8 -n 30000 -d 20 -r 2000
	check_common
	want '.runs[0] | .qdisc == "fq" and .probe_samples > 0' "$TMP/tx.json"
	# The bulk flows were backlogged: at some probe arrival all 8 had frames queued.
	want '.runs[0] | .probe_queue_wait.others_max == 8 and .worker.queue_max > 8' "$TMP/tx.json"
	want '.runs[0].probe_queue_wait.bound_exceeded == 0' "$TMP/tx.json"
	fq_max=$(q '.runs[0].probe_queue_wait.max' "$TMP/tx.json")
	fq_p50=$(q '.runs[0].probe_queue_wait.p50' "$TMP/tx.json")
	# The same count with one FIFO: a probe frame waits behind everything queued before it.
	A timeout 60 "$XSK" tx -i "$TSQ_IF_A" --quiet --json --qdisc fifo --bulk-flows 8 -n 30000 -d 20 -r 2000 \
		>"$TMP/tx.json" 2>"$TMP/tx.err" || fail "tx --qdisc fifo exited $?: $(cat "$TMP/tx.err")"
	want '.runs[0] | .qdisc == "fifo" and .quiesced and .umem_frames_leaked == 0' "$TMP/tx.json"
	want '.runs[0].probe_queue_wait.bound_exceeded > 0' "$TMP/tx.json"
	echo "probe queue wait (frames of other flows): fq p50 $fq_p50 max $fq_max, bound never exceeded;" \
		"fifo p50 $(q '.runs[0].probe_queue_wait.p50' "$TMP/tx.json") max $(q '.runs[0].probe_queue_wait.max' "$TMP/tx.json")," \
		"bound exceeded by $(q '.runs[0].probe_queue_wait.bound_exceeded' "$TMP/tx.json") of $(q '.runs[0].probe_samples' "$TMP/tx.json") probe frames"
	;;
tsq_build_worker)
	# The application hands over the frame's description; the worker writes the frame.
	start_rx rx
	run_tx --tsq on --bql on --build-on worker --bulk-flows 8 -n 30000 -d 20 -r 2000
	check_common
	want '.runs[0] | .build_on == "worker" and .config == "TSQ+BQL/wb" and .bulk_flows == 8 and (.flows | length) == 9' "$TMP/tx.json"
	want '.runs[0] | .probe_samples > 0 and .bql_stats.stops > 0' "$TMP/tx.json"
	# The kernel's UDP socket checks the IPv6/UDP checksum: every frame it counts was whole.
	rm -f "$TMP/ready"
	start_rx rx-udp
	run_tx --tsq on --build-on worker -n 100000 -d 20 -r 1000
	check_common
	want '.runs[0].build_on == "worker"' "$TMP/tx.json"
	B timeout 30 "$XSK" sink -i "$TSQ_IF_B" -d 20 --ready-file "$TMP/ready2" >"$TMP/rx.err" 2>&1 &
	RX_PID=$!
	for _ in $(seq 50); do [[ -f $TMP/ready2 ]] && break; sleep 0.1; done
	[[ -f $TMP/ready2 ]] || fail "sink did not start: $(cat "$TMP/rx.err")"
	A timeout 60 "$XSK" matrix -i "$TSQ_IF_A" --bulk-flows 2 --rounds 1 -d 0.2 --build-on both --quiet --json \
		>"$TMP/tx.json" 2>"$TMP/tx.err" || fail "matrix --build-on both exited $?: $(cat "$TMP/tx.err")"
	want '[.runs[] | .config] == ["bare","bare+build","TSQ off","TSQ","BQL","TSQ+BQL","TSQ+BQL/wb"]' "$TMP/tx.json"
	want '[.runs[] | .build_on] == ["none","none","app","app","app","app","worker"]' "$TMP/tx.json"
	want '.runs[2:] | all(.bulk_pps > 0 and .quiesced and .umem_frames_leaked == 0)' "$TMP/tx.json"
	echo "built by the worker: $(q '.runs[6].bulk_pps' "$TMP/tx.json") pps in matrix's TSQ+BQL/wb"
	;;
*) echo "unknown case $CASE"; exit 2 ;;
esac
echo "PASS: $CASE"
