/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Replay driver shared by the fuzz targets, included at the end of a target's source when
 * TSQ_FUZZ_REPLAY_MAIN is defined: `<name> [N]` runs N deterministic pseudo-random inputs
 * (default 20000); `<name> FILE...` replays inputs saved by libFuzzer (crash-*, corpus).
 * The includer defines TSQ_FUZZ_NAME (a string) and may define
 * TSQ_FUZZ_SHAPE_INPUT(buf, len, i) to bend some inputs towards rare paths.
 */
#ifndef TSQ_FUZZ_SHAPE_INPUT
#define TSQ_FUZZ_SHAPE_INPUT(buf, len, i) ((void)0)
#endif

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static uint64_t rng(void)
{
	/* xorshift64*: fixed seed, so every run and every machine sees the same inputs. */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1du;
}

static int replay_file(const char *path)
{
	static uint8_t buf[1 << 20];
	FILE *f = fopen(path, "rb");
	size_t n;

	if (f == NULL) {
		perror(path);
		return 1;
	}
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	LLVMFuzzerTestOneInput(buf, n);
	return 0;
}

int main(int argc, char **argv)
{
	static uint8_t buf[1024];
	unsigned long n = 20000;
	char *end;

	if (argc > 1) {
		n = strtoul(argv[1], &end, 10);
		if (*end != '\0') {
			int err = 0;

			for (int i = 1; i < argc; i++)
				err |= replay_file(argv[i]);
			printf("%s: %d file(s) replayed\n", TSQ_FUZZ_NAME, argc - 1);
			return err;
		}
	}
	for (unsigned long i = 0; i < n; i++) {
		size_t len = (size_t)(rng() % sizeof(buf));

		/* Opcode-heavy inputs: most bytes small, so every case is hit often. */
		for (size_t j = 0; j < len; j++) {
			uint64_t x = rng();

			buf[j] = (uint8_t)((x & 3) == 0 ? (x >> 8) : (x >> 8) % 24);
		}
		TSQ_FUZZ_SHAPE_INPUT(buf, len, i);
		LLVMFuzzerTestOneInput(buf, len);
	}
	printf("%s: %lu inputs, the reference model and tsq agree\n", TSQ_FUZZ_NAME, n);
	return 0;
}
