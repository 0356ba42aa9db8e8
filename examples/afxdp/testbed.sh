#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause
#
# testbed.sh - two network namespaces joined by a veth pair, for tsq-xsk's tests and demo.
#
#   testbed.sh up [--queues N] [--mtu M]   create (idempotent: an existing bed is recreated)
#   testbed.sh down                        remove (idempotent)
#   testbed.sh status                      print what exists; exit 0 if the bed is up
#   testbed.sh env                         print the names and addresses as shell variables
#
# Addresses: fixed locally administered MACs and IPv6 ULA (fd00::/8) addresses, with no DAD,
# on these two interfaces only. No IPv4 anywhere. Names can be changed through the
# environment (TSQ_NS_A, TSQ_NS_B, TSQ_IF_A, TSQ_IF_B) so parallel runs do not collide.
set -euo pipefail

NS_A=${TSQ_NS_A:-tsq-a}
NS_B=${TSQ_NS_B:-tsq-b}
IF_A=${TSQ_IF_A:-tsqa0}
IF_B=${TSQ_IF_B:-tsqb0}
MAC_A=02:00:00:00:00:0a
MAC_B=02:00:00:00:00:0b
IP_A=fd00:7473:7100::a
IP_B=fd00:7473:7100::b

die() { echo "testbed: $*" >&2; exit 1; }

need_root() {
	[[ $(id -u) -eq 0 ]] || die "needs root (network namespaces); run as root or with sudo"
	command -v ip >/dev/null || die "'ip' not found: install iproute2"
}

down() {
	ip netns del "$NS_A" 2>/dev/null || true
	ip netns del "$NS_B" 2>/dev/null || true
	# Deleting a namespace removes its veth end, and with it the pair; a pair left in the
	# root namespace by a half-finished 'up' goes here.
	ip link del "$IF_A" 2>/dev/null || true
}

up() {
	local queues=1 mtu=1500
	while [[ $# -gt 0 ]]; do
		case $1 in
		--queues) queues=$2; shift 2 ;;
		--mtu) mtu=$2; shift 2 ;;
		*) die "unknown option '$1' (up takes --queues N, --mtu M)" ;;
		esac
	done
	[[ $queues =~ ^[0-9]+$ && $queues -ge 1 && $queues -le 64 ]] || die "--queues must be 1..64"
	# Native XDP on veth needs MTU <= 3506 (and several queues need a program on both ends).
	[[ $mtu =~ ^[0-9]+$ && $mtu -ge 1280 && $mtu -le 3506 ]] || die "--mtu must be 1280..3506"
	down
	ip netns add "$NS_A"
	ip netns add "$NS_B"
	ip link add "$IF_A" numtxqueues "$queues" numrxqueues "$queues" type veth \
		peer name "$IF_B" numtxqueues "$queues" numrxqueues "$queues"
	ip link set "$IF_A" netns "$NS_A"
	ip link set "$IF_B" netns "$NS_B"
	local ns ifc mac ip
	for side in A B; do
		if [[ $side == A ]]; then ns=$NS_A ifc=$IF_A mac=$MAC_A ip=$IP_A
		else ns=$NS_B ifc=$IF_B mac=$MAC_B ip=$IP_B; fi
		ip -n "$ns" link set lo up
		ip -n "$ns" link set "$ifc" address "$mac" mtu "$mtu"
		# Only IPv6 ULA here; no router solicitations or other chatter worth mentioning.
		ip netns exec "$ns" sysctl -qw "net.ipv6.conf.$ifc.accept_ra=0" || true
		ip -n "$ns" -6 addr add "$ip/64" dev "$ifc" nodad
		ip -n "$ns" link set "$ifc" up
	done
	# Static neighbours: no neighbour discovery traffic needed by the tests.
	ip -n "$NS_A" -6 neigh replace "$IP_B" lladdr "$MAC_B" dev "$IF_A" nud permanent
	ip -n "$NS_B" -6 neigh replace "$IP_A" lladdr "$MAC_A" dev "$IF_B" nud permanent
}

status() {
	local ok=0
	ip netns list 2>/dev/null | grep -qw "$NS_A" || ok=1
	ip netns list 2>/dev/null | grep -qw "$NS_B" || ok=1
	if [[ $ok -eq 0 ]]; then
		ip -n "$NS_A" -br link show "$IF_A" && ip -n "$NS_B" -br link show "$IF_B" || ok=1
	fi
	[[ $ok -eq 0 ]] && echo "testbed: up" || echo "testbed: down"
	return $ok
}

env_vars() {
	cat <<VARS
NS_A=$NS_A
NS_B=$NS_B
IF_A=$IF_A
IF_B=$IF_B
MAC_A=$MAC_A
MAC_B=$MAC_B
IP_A=$IP_A
IP_B=$IP_B
VARS
}

cmd=${1:-}
[[ $# -gt 0 ]] && shift
case $cmd in
up) need_root; up "$@" ;;
down) need_root; down ;;
status) status ;;
env) env_vars ;;
*) echo "usage: $0 up [--queues N] [--mtu M] | down | status | env" >&2; exit 2 ;;
esac
