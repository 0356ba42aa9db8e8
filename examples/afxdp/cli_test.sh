#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause
#
# cli_test.sh MODE TSQ_XSK [VERSION] - tsq-xsk's command line; needs no root, no AF_XDP.
#   cli   every bad value exits 2 and names its option on stderr - also for an unprivileged
#         user (the checks come before the privilege check); --help and --version exit 0
#         (--version prints VERSION); a missing interface exits 1; an unprivileged run
#         exits 77 naming the missing capabilities.
#   json  the JSON of rx-udp (the one receiver that needs no privileges): "schema": 1.
# As root, the unprivileged runs use setpriv to become nobody; without setpriv they are
# left out (said in one line). Exit 0 pass, 1 fail, 77 skipped (json without jq).
set -uo pipefail

MODE=${1:?mode: cli or json}
XSK=${2:?path to tsq-xsk}
VERSION=${3:-}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
FAILS=0

fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }

# Who runs the unprivileged rows: ourselves when not root, nobody when root.
NOPRIV=()
if [[ $(id -u) -eq 0 ]]; then
	if command -v setpriv >/dev/null; then
		NOPRIV=(setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all)
	else
		echo "note: root without setpriv: the unprivileged rows are left out"
		NOPRIV=(false)
	fi
fi

# expect WHO RC NEEDLE ARGS...: run tsq-xsk ARGS (WHO: self|nopriv), want exit RC and NEEDLE
# (a fixed string) on stderr.
expect() {
	local who=$1 want=$2 needle=$3 rc
	shift 3
	if [[ $who == nopriv ]]; then
		[[ ${NOPRIV[0]:-} == false ]] && return 0
		"${NOPRIV[@]}" "$XSK" "$@" >"$TMP/out" 2>"$TMP/err"
	else
		"$XSK" "$@" >"$TMP/out" 2>"$TMP/err"
	fi
	rc=$?
	if [[ $rc -ne $want ]]; then
		fail "tsq-xsk $* ($who): exit $rc, want $want; stderr: $(head -c 300 "$TMP/err")"
	elif [[ -n $needle ]] && ! grep -qF -- "$needle" "$TMP/err"; then
		fail "tsq-xsk $* ($who): stderr does not name '$needle': $(head -c 300 "$TMP/err")"
	elif [[ $want -eq 2 && -n $needle && $(wc -l <"$TMP/err") -ne 1 ]]; then
		fail "tsq-xsk $* ($who): want one line on stderr, got: $(cat "$TMP/err")"
	fi
}

cli() {
	# option, then its bad value(s); every row: exit 2, the option named.
	local rows=(
		"--queue|-q abc"            "--queue|-q 5x"            "--queue|-q -1"
		"--queue|-q 65536"          "--queue|--queue 65535 --queues 2"
		"--queues|--queues 0"       "--queues|--queues 17"     "--queues|--queues two"
		"--mode|-m fast"            "--attach|--attach fast"
		"--frame-size|-f 3000"      "--frame-size|-f 0x"       "--frame-size|-f 2048.0"
		"--pkt-size|-s 10"          "--pkt-size|-s 3000"       "--pkt-size|-s 4000 -f 2048"
		"--flows|-F 0"              "--flows|-F 65"
		"--probe-rate|-r -5"        "--probe-rate|-r abc"      "--probe-rate|-r inf"
		"--probe-rate|-r 1e9"
		"--duration|-d 0"           "--duration|-d -1"         "--duration|-d nan"
		"--duration|-d 3s"          "--duration|-d 1e7"
		"--count|-n -1"             "--count|-n 1.5"
		"--tsq|-t maybe"            "--zerocopy|-z 2"
		"--tsq-limit|--tsq-limit 0" "--tsq-limit|--tsq-limit 1T"
		"--copy-every|--copy-every x" "--copy-every|--copy-every 3"
		"--zc-first-id|--zc-first-id 4294967296"
		"--pool-frames|--pool-frames 10"
		"--ring-size|--ring-size 1000" "--ring-size|--ring-size 32" "--ring-size|--ring-size 131072"
		"--dst-mac|--dst-mac 1ff:2:3:4:5:6" "--dst-mac|--dst-mac 02:00:00:00:00"
		"--dst-mac|--dst-mac 02:00:00:00:00:0b:0c" "--dst-mac|--dst-mac 02:00:00:00:00:0g"
		"--src-ip|--src-ip 10.0.0.1" "--dst-ip|--dst-ip zz"
		"--port|--port 70000"       "--port|--port 0"          "--port|--port -1"
		"--idle-exit|--idle-exit 0" "--own-us|--own-us 5000"
		"--qdisc|--qdisc drr"       "--qdisc|--qdisc both"      "--fq-quantum|--fq-quantum 0"
		"--build-on|--build-on kernel" "--build-on|--build-on both" "--build-on|--build-on worker -z on"
		"--port|--port"             "--bogus|--bogus"          "--iface|-i 0123456789abcdefXYZ"
	)
	for row in "${rows[@]}"; do
		local name=${row%%|*} args
		read -ra args <<<"${row#*|}"
		expect self 2 "$name" tx -i lo "${args[@]}"
		expect nopriv 2 "$name" tx -i lo "${args[@]}"
	done
	# rx and compare take the same checks; a typo in the command is named too.
	expect nopriv 2 "--ring-size" rx -i lo --ring-size 1000
	expect nopriv 2 "--queues" compare -i lo --queues 0
	expect nopriv 2 "--port" rx-udp --port 70000
	expect nopriv 2 "--iface" tx
	expect nopriv 2 "bogus" bogus -i lo
	expect self 2 "" # no command: the usage on stderr
	[[ $(grep -c . "$TMP/err") -gt 5 ]] || fail "no arguments: no usage on stderr"

	# --help and --version: exit 0, on stdout.
	for args in "--help" "-h" "tx --help" "rx -h"; do
		# shellcheck disable=SC2086 # split on purpose
		"$XSK" $args >"$TMP/out" 2>"$TMP/err" || fail "tsq-xsk $args: exit $?"
		grep -q '^usage: tsq-xsk' "$TMP/out" || fail "tsq-xsk $args: no usage on stdout"
	done
	for args in "--version" "tx --version"; do
		# shellcheck disable=SC2086
		"$XSK" $args >"$TMP/out" 2>"$TMP/err" || fail "tsq-xsk $args: exit $?"
		grep -qE '^tsq-xsk [0-9]+\.[0-9]+\.[0-9]+' "$TMP/out" || fail "tsq-xsk $args: prints '$(cat "$TMP/out")'"
		[[ -z $VERSION ]] || grep -qx "tsq-xsk $VERSION" "$TMP/out" ||
			fail "tsq-xsk $args prints '$(cat "$TMP/out")', the project is $VERSION"
	done

	# The manual documents every option --help lists.
	local man
	man=$(dirname "$0")/tsq-xsk.1
	for o in $("$XSK" --help | grep -oE -- '--[a-z][a-z-]+' | sort -u); do
		grep -qF -- "${o//-/\\-}" "$man" || fail "tsq-xsk.1 does not document $o"
	done

	# Past the options: a missing interface is a runtime error (1), named, before privileges.
	expect nopriv 1 "no interface 'nosuch0'" tx -i nosuch0
	# Without privileges: 77, one line naming the missing capabilities.
	if [[ $(id -u) -ne 0 ]] && (($(grep CapEff /proc/self/status | awk '{print "0x"$2}') & (1 << 13))); then
		echo "note: this user has CAP_NET_RAW: the 'missing capabilities' rows are left out"
	else
		expect nopriv 77 "CAP_NET_RAW" tx -i lo -d 0.1
		expect nopriv 77 "CAP_BPF" rx -i lo -d 0.1
		expect nopriv 77 "CAP_NET_ADMIN" sink -i lo -d 0.1
	fi
}

json() {
	command -v jq >/dev/null || { echo "SKIPPED: jq is not installed"; exit 77; }
	local port rc
	for _ in 1 2 3 4 5; do
		port=$((20000 + (RANDOM % 40000)))
		"$XSK" rx-udp --port "$port" -d 0.3 --json >"$TMP/out" 2>"$TMP/err"
		rc=$?
		grep -q "in use" "$TMP/err" || break
	done
	[[ $rc -eq 0 ]] || { fail "rx-udp exited $rc: $(cat "$TMP/err")"; return; }
	jq -e '.schema == 1 and .role == "rx-udp" and .received == 0 and (.flows | length) == 0' \
		"$TMP/out" >/dev/null || fail "rx-udp JSON: $(cat "$TMP/out")"
	jq -e 'keys_unsorted[0] == "schema"' "$TMP/out" >/dev/null || fail "schema is not the first key"
}

case $MODE in
cli) cli ;;
json) json ;;
*) echo "unknown mode $MODE"; exit 2 ;;
esac
[[ $FAILS -eq 0 ]] || { echo "$FAILS failure(s)"; exit 1; }
echo "PASS: $MODE"
