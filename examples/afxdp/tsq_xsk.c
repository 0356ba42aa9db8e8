/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tsq-xsk - tsq's AF_XDP reference sender/receiver (see engine.h for the design, xsk.h for
 * which file does what, tsq-xsk.1 for the manual).
 *
 *   tsq-xsk tx      send a bulk flow (or several) and a probe flow, measure, report
 *   tsq-xsk compare the same, TSQ off then on, side by side: {"schema":1,"runs":[...]}
 *   tsq-xsk matrix  the bare sender and TSQ x BQL off/on, interleaved over --rounds rounds
 *   tsq-xsk bare    the bare sender: one socket, one loop, no engine (the throughput anchor)
 *   tsq-xsk rx      receive with AF_XDP: per-flow exactly-once accounting
 *   tsq-xsk rx-udp  receive with a kernel UDP socket (the independent peer)
 *   tsq-xsk sink    a counting XDP_DROP program on an interface (the cheapest peer)
 *
 * Order of the checks: the options (exit 2), then the interface and its link (exit 1), then
 * the capabilities (exit 77), then the command (0, or 1 with the reason on stderr).
 */
#include "cli.h"

#include <signal.h>

volatile sig_atomic_t cli_interrupted;

static void on_signal(int sig)
{
	(void)sig;
	cli_interrupted = 1;
}

int main(int argc, char **argv)
{
	struct cli_args o;
	int rc = cli_parse(argc, argv, &o);

	if (rc == 1)
		return 0; /* --help, --version */
	if (rc != 0)
		return rc;
	rc = preflight(&o);
	if (rc != 0)
		return rc;
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	rcu_register_thread();
	switch (o.cmd) {
	case CMD_TX:
		rc = cmd_tx(&o, false);
		break;
	case CMD_COMPARE:
		rc = cmd_tx(&o, true);
		break;
	case CMD_MATRIX:
		rc = cmd_matrix(&o);
		break;
	case CMD_BARE:
		rc = cmd_bare(&o);
		break;
	case CMD_RX:
		rc = cmd_rx(&o);
		break;
	case CMD_RX_UDP:
		rc = cmd_rx_udp(&o);
		break;
	case CMD_SINK:
		rc = cmd_sink(&o);
		break;
	}
	rcu_unregister_thread();
	return rc;
}
