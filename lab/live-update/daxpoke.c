/* daxpoke: flips the bits of one byte of a device-dax device (busybox cannot write devdax: read/write give EINVAL).
 *
 *   daxpoke DEVICE OFFSET [MASK]     MAP_SHARED of the 2 MiB block holding OFFSET, byte ^= MASK (default 0xff)
 *
 * Used by scripts/lab-live-update to damage the layout's copy in a region's memory.
 * Build: gcc -static -O2 -o daxpoke daxpoke.c
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: daxpoke DEVICE OFFSET [MASK]\n");
		return 2;
	}
	unsigned long long offset = strtoull(argv[2], NULL, 0);
	unsigned mask = argc > 3 ? (unsigned)strtoul(argv[3], NULL, 0) : 0xff;
	unsigned long long block = 2ull << 20;
	int fd = open(argv[1], O_RDWR);
	if (fd < 0) {
		perror(argv[1]);
		return 1;
	}
	unsigned char *base = mmap(NULL, block, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)(offset / block * block));
	if (base == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	base[offset % block] ^= (unsigned char)mask;
	munmap(base, block);
	close(fd);
	return 0;
}
