/* SPDX-License-Identifier: BSD-2-Clause */
/* cli_help.c - tsq-xsk's --help and --version text (cli.h). */
#include "cli.h"

#include <stdio.h>

void cli_usage(FILE *out)
{
	fprintf(out,
		"usage: tsq-xsk tx|compare|matrix|bare|rx|rx-udp|sink [options]\n"
		"       tsq-xsk --help | --version\n"
		"\n"
		"  tx       bulk flow(s) plus a probe flow over AF_XDP; prints a table (--json: JSON)\n"
		"  compare  tx twice, TSQ off then on, side by side; --json prints {\"runs\":[...]}\n"
		"  matrix   per round: bare, bare+build, TSQ off, TSQ, BQL, TSQ+BQL (--rounds);\n"
		"           min..max of the same-round ratios\n"
		"  bare     the bare sender: one socket, one loop, no engine (xdpsock TX-only)\n"
		"  rx       AF_XDP receiver: per-flow exactly-once accounting\n"
		"  rx-udp   kernel UDP socket receiver on --port (the independent peer)\n"
		"  sink     counting XDP_DROP program on the interface for --duration seconds\n"
		"\n"
		"  -i, --iface IF          interface (required except rx-udp)\n"
		"  -q, --queue Q           first queue, 0..65535 (default 0)\n"
		"      --queues N          queues, one worker each, 1..%d (default 1)\n"
		"  -m, --mode M            auto|copy|zerocopy: XDP bind mode (default auto: zero-copy\n"
		"                          where the driver supports it, else copy; veth is copy)\n"
		"      --attach A          auto|native|generic XDP attach for rx/sink (default auto)\n"
		"      --no-need-wakeup    do not bind with XDP_USE_NEED_WAKEUP (default: on)\n"
		"  -f, --frame-size N      UMEM frame size, 2048 or 4096 (default 2048)\n"
		"  -s, --pkt-size N        frame length on the wire, %d..frame size (default 80)\n"
		"  -F, --flows N           bulk flows, 1..%d (default 1); also --bulk-flows N\n"
		"  -r, --probe-rate PPS    probe frames per second, 0..%.0f (default 5000; 0: no probe)\n"
		"  -d, --duration S        seconds of traffic, > 0 (default 3)\n"
		"  -n, --count N           frames per bulk flow, then stop (default 0: until duration)\n"
		"  -t, --tsq on|off        TCP Small Queues budget (default on)\n"
		"      --bql on|off        byte queue limits on each worker's TX ring (default on)\n"
		"      --qdisc fq|fifo|both  the worker's queues in front of the TX ring: one per\n"
		"                          flow served round robin, a frame per turn (fq), or one\n"
		"                          FIFO; both: matrix runs TSQ+BQL with each (default fq)\n"
		"      --fq-quantum N      fq: frames a flow's queue sends per turn, 1..256\n"
		"                          (default 1)\n"
		"      --build-per-send    bare: build every frame before it is sent, as the\n"
		"                          engine's applications do (default: built once; matrix\n"
		"                          runs the bare sender both ways)\n"
		"      --build-on app|worker|both  who writes a bulk or probe frame into the UMEM:\n"
		"                          the application before the hand-off, or the worker just\n"
		"                          before the TX ring (the kernel's copy finds it in cache);\n"
		"                          both: matrix runs TSQ+BQL each way (default app)\n"
		"      --rounds N          matrix: rounds, 1..100 (default 3)\n"
		"      --ret-hold-us N     completed TX frames wait up to N us for a fuller batch\n"
		"                          home, 0..10000 (default 1000; 0: hand over every round)\n"
		"      --tsq-limit BYTES   bytes in flight per flow; frames count their frame size\n"
		"                          (default 131072: 64 frames of 2 KB, the seed's 128 KB)\n"
		"  -z, --zerocopy on|off   bulk flow sends application buffers from the UMEM with\n"
		"                          tsq zerocopy ids and notices (default off)\n"
		"      --copy-every N      with -z on: every Nth message comes from outside the UMEM\n"
		"                          and is copied; its notice says COPIED (default 0: never)\n"
		"      --zc-first-id ID    first zerocopy id, 0..4294967295 (test the 2^32 wrap:\n"
		"                          4294967200)\n"
		"      --pool-frames N     TX frames per bulk flow, 64..1048576 (default 4096)\n"
		"      --ring-size N       entries of each xsk ring, a power of two 64..65536\n"
		"                          (default 2048)\n",
		XENG_MAX_WORKERS, XENG_MIN_LEN, CLI_MAX_FLOWS, CLI_MAX_PROBE_RATE);
	fprintf(out, /* two strings: ISO C's 4095-character limit */
		"      --dst-mac MAC       (default 02:00:00:00:00:0b, the test bed's peer)\n"
		"      --src-ip IP6 / --dst-ip IP6   (default fd00:7473:7100::a / ::b)\n"
		"      --port N            UDP port, 1..65535 (default %d)\n"
		"      --no-pin            do not pin worker i to CPU i (default: pinned when\n"
		"                          that CPU exists)\n"
		"      --ready-file PATH   rx/rx-udp/sink: create PATH once receiving\n"
		"      --idle-exit MS      rx/rx-udp: stop MS ms after the last frame (default 1000)\n"
		"      --own-us N          rx: the application owns each flow for N us every ms,\n"
		"                          0..1000, so frames go through the owner backlog (default 200)\n"
		"      --json              JSON on stdout instead of the table\n"
		"      --json-file PATH    tx, compare, matrix, bare: also write the JSON to PATH\n"
		"      --quiet             no progress lines\n"
		"  -h, --help              this text\n"
		"      --version           tsq-xsk and tsq's version\n"
		"\n"
		"Exit: 0 ok, 1 failure, 2 usage, 77 not possible here (missing capabilities:\n"
		"CAP_NET_RAW, CAP_NET_ADMIN, CAP_BPF or CAP_SYS_ADMIN, CAP_IPC_LOCK; no AF_XDP).\n"
		"man tsq-xsk (examples/afxdp/tsq-xsk.1) has the details.\n",
		XENG_UDP_PORT);
}

void cli_version(void)
{
#ifdef TSQ_VERSION_STRING
	printf("tsq-xsk %s\n", TSQ_VERSION_STRING);
#else
	printf("tsq-xsk %d.%d.%d\n", TSQ_VERSION_MAJOR, TSQ_VERSION_MINOR, TSQ_VERSION_PATCH);
#endif
}
