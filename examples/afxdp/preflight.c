/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * preflight.c - what tsq-xsk checks after the options and before it touches AF_XDP:
 *   1. the interface exists in this network namespace                      (else exit 1)
 *   2. its link: administratively up and with carrier                      (tx: else exit 1;
 *      rx and sink only warn - the link may come up while they wait)
 *   3. the capabilities the command needs, read from /proc/self/status     (else exit 77)
 * AF_XDP tools are often run with capabilities rather than as root, so 3 looks at the
 * effective set, not at the user id, and names what is missing.
 */
#include "cli.h"

#include <errno.h>
#include <net/if.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

/* Capability numbers (linux/capability.h; not included, to keep libcap's headers out). */
#define CAP_NET_ADMIN_BIT 12
#define CAP_NET_RAW_BIT 13
#define CAP_IPC_LOCK_BIT 14
#define CAP_SYS_ADMIN_BIT 21
#define CAP_SYS_RESOURCE_BIT 24
#define CAP_BPF_BIT 39
#define CAP(bit) (1ull << (bit))

int link_state(const char *ifname, char *why, size_t size)
{
	struct ifreq ifr;
	int fd = socket(AF_UNIX, SOCK_DGRAM, 0), err = 0;

	snprintf(why, size, "up");
	if (fd < 0) {
		err = -errno;
		snprintf(why, size, "cannot ask for its state (%s)", strerror(-err));
		return err;
	}
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) != 0) {
		err = -errno;
		snprintf(why, size, "%s",
			 err == -ENODEV ? "the interface is gone" : strerror(-err));
	} else if (!(ifr.ifr_flags & IFF_UP)) {
		err = -ENETDOWN;
		snprintf(why, size, "the interface is administratively down (ip link set %s up)",
			 ifname);
	} else if (!(ifr.ifr_flags & IFF_RUNNING)) {
		err = -ENOLINK;
		snprintf(why, size, "no carrier (a cable unplugged, or the veth peer is down)");
	}
	close(fd);
	return err;
}

/* The effective capability set; false when /proc cannot say. */
static bool cap_effective(uint64_t *set)
{
	char line[256];
	bool found = false;
	FILE *f = fopen("/proc/self/status", "r");

	if (f == NULL)
		return false;
	while (!found && fgets(line, sizeof(line), f) != NULL) {
		unsigned long long v;

		if (sscanf(line, "CapEff: %llx", &v) == 1) {
			*set = v;
			found = true;
		}
	}
	fclose(f);
	return found;
}

/* Without CAP_IPC_LOCK the UMEM is charged against RLIMIT_MEMLOCK: enough if the hard limit
 * (the engine raises the soft one to it) covers it, or CAP_SYS_RESOURCE lifts it. */
static bool memlock_covers(uint64_t caps, uint64_t bytes)
{
	struct rlimit rl;

	if (caps & (CAP(CAP_IPC_LOCK_BIT) | CAP(CAP_SYS_RESOURCE_BIT)))
		return true;
	if (getrlimit(RLIMIT_MEMLOCK, &rl) != 0)
		return false;
	return rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= bytes;
}

static void add_name(char *list, size_t size, const char *name)
{
	size_t n = strlen(list);

	snprintf(list + n, size - n, "%s%s", n ? ", " : "", name);
}

/*
 * What each command needs: an AF_XDP socket CAP_NET_RAW; attaching XDP CAP_NET_ADMIN;
 * loading BPF programs and maps CAP_BPF (or CAP_SYS_ADMIN, before 5.8 the only one); the
 * UMEM CAP_IPC_LOCK, or a memlock limit that covers it.
 */
static int check_capabilities(const struct cli_args *o)
{
	bool xsk = o->cmd != CMD_SINK, xdp = o->cmd == CMD_RX || o->cmd == CMD_SINK;
	uint64_t caps, umem = o->cmd == CMD_RX ? rx_umem_bytes(o) : tx_umem_bytes(o);
	char missing[160] = "", ipc[64];

	if (o->cmd == CMD_RX_UDP)
		return 0;
	if (!cap_effective(&caps))
		caps = geteuid() == 0 ? ~0ull : 0; /* no /proc: root or nothing */
	if (xsk && !(caps & CAP(CAP_NET_RAW_BIT)))
		add_name(missing, sizeof(missing), "CAP_NET_RAW");
	if (xdp && !(caps & CAP(CAP_NET_ADMIN_BIT)))
		add_name(missing, sizeof(missing), "CAP_NET_ADMIN");
	if (xdp && !(caps & (CAP(CAP_BPF_BIT) | CAP(CAP_SYS_ADMIN_BIT))))
		add_name(missing, sizeof(missing), "CAP_BPF (or CAP_SYS_ADMIN)");
	if (xsk && !memlock_covers(caps, umem)) {
		snprintf(ipc, sizeof(ipc), "CAP_IPC_LOCK (or ulimit -l >= %llu KiB)",
			 (unsigned long long)((umem + 1023) / 1024));
		add_name(missing, sizeof(missing), ipc);
	}
	if (missing[0] == '\0')
		return 0;
	fprintf(stderr,
		"tsq-xsk: %s needs %s, which this process lacks (run as root, or grant "
		"them with setcap): skipped\n",
		o->cmd_name, missing);
	return EXIT_SKIP;
}

int preflight(const struct cli_args *o)
{
	char why[128];

	if (o->cmd == CMD_RX_UDP)
		return 0;
	if (if_nametoindex(o->ifname) == 0) {
		fprintf(stderr,
			"tsq-xsk: no interface '%s' in this network namespace (ip link show)\n",
			o->ifname);
		return 1;
	}
	if (link_state(o->ifname, why, sizeof(why)) != 0) {
		if (o->cmd == CMD_TX || o->cmd == CMD_COMPARE || o->cmd == CMD_MATRIX ||
		    o->cmd == CMD_BARE) {
			fprintf(stderr, "tsq-xsk: link down on %s: %s\n", o->ifname, why);
			return 1;
		}
		fprintf(stderr, "tsq-xsk: warning: link down on %s: %s; receiving anyway\n",
			o->ifname, why);
	}
	return check_capabilities(o);
}
