/* poison: a tiny static helper for the memory-error lab test (busybox cannot madvise).
 *
 *   poison PATH MAP_LENGTH OFFSET
 *
 * Maps MAP_LENGTH bytes of PATH (a /dev/daxR.N node or a hugetlbfs file) MAP_SHARED, writes a byte into the 4 KiB
 * page at OFFSET so it is populated, then poisons that page with madvise(MADV_HWPOISON) as the kernel's
 * memory-failure handling would for a real uncorrectable error. The kernel signals this process (the one that
 * touched the page: BUS_MCEERR_AR, often inside madvise itself) and every other process mapping the page that
 * asked for early kill (BUS_MCEERR_AO) - daxpool among them.
 *
 * Prints "poison: si_code=C si_addr_lsb=L offset=0xO" for every SIGBUS it gets and "poison: done" at the end;
 * exits 0 when madvise succeeded or a memory-error SIGBUS came, 1 otherwise. Needs CAP_SYS_ADMIN.
 * Build: gcc -static -O2 -o poison poison.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef BUS_MCEERR_AR
#define BUS_MCEERR_AR 4
#endif
#ifndef BUS_MCEERR_AO
#define BUS_MCEERR_AO 5
#endif

static sigjmp_buf recovery;
static volatile sig_atomic_t signals;
static volatile int last_code;
static volatile int last_lsb;
static volatile uintptr_t last_address;

static void on_sigbus(int number, siginfo_t *info, void *context)
{
	(void)number;
	(void)context;
	signals++;
	last_code = info->si_code;
	last_address = (uintptr_t)info->si_addr;
	last_lsb = info->si_addr_lsb;
	/* An action-required signal repeats if we return to the faulting instruction: leave it. */
	if (info->si_code == BUS_MCEERR_AR)
		siglongjmp(recovery, 1);
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: poison PATH MAP_LENGTH OFFSET\n");
		return 2;
	}
	const char *path = argv[1];
	size_t length = strtoull(argv[2], NULL, 0);
	size_t offset = strtoull(argv[3], NULL, 0) & ~(size_t)4095;
	if (length == 0 || offset >= length) {
		fprintf(stderr, "poison: OFFSET must lie inside MAP_LENGTH\n");
		return 2;
	}
	int fd = open(path, O_RDWR);
	if (fd < 0) {
		fprintf(stderr, "poison: open %s: %s\n", path, strerror(errno));
		return 1;
	}
	unsigned char *base = mmap(NULL, length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (base == MAP_FAILED) {
		fprintf(stderr, "poison: mmap %s (%zu bytes): %s\n", path, length, strerror(errno));
		return 1;
	}
	struct sigaction action;
	memset(&action, 0, sizeof(action));
	action.sa_sigaction = on_sigbus;
	action.sa_flags = SA_SIGINFO;
	sigaction(SIGBUS, &action, NULL);

	base[offset] = 0x5a;
	int status = -1;
	int error = 0;
	if (sigsetjmp(recovery, 1) == 0) {
		status = madvise(base + offset, 4096, MADV_HWPOISON);
		error = errno;
	}
	if (signals > 0) {
		long delta = (long)(last_address - (uintptr_t)base);
		printf("poison: si_code=%d si_addr_lsb=%d offset=0x%lx\n", last_code, last_lsb, delta);
	}
	if (status != 0 && signals == 0) {
		printf("poison: madvise(MADV_HWPOISON) at 0x%zx: %s\n", offset, strerror(error));
		return 1;
	}
	printf("poison: done (madvise %s, %d signal(s))\n", status == 0 ? "returned 0" : "interrupted", (int)signals);
	return 0;
}
