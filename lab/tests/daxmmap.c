/* daxmmap: a tiny static helper for the devdax lab tests (busybox cannot mmap).
 *
 *   daxmmap DEVICE ALIGN SIZE [test|fill TAG|check TAG]
 *
 * test (default): MAP_SHARED of the whole device lands ALIGN-aligned, a pattern written at the start, the middle
 *   and the last page of every ALIGN block reads back, and again after unmap and a second mapping; MAP_PRIVATE
 *   fails with EINVAL; a length that is not a multiple of ALIGN fails with EINVAL (ALIGN > 4K).
 * fill TAG / check TAG: writes TAG into the first bytes of every ALIGN block / checks it is still there.
 * zero: checks that every byte of the device reads zero (memory a new owner gets must hold nothing of the last one).
 *
 * Prints one "ok - ..." or "not ok - ..." line per check; exits 1 if any failed.
 * Build: gcc -static -O2 -o daxmmap daxmmap.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static int failures;

static void check(int condition, const char *what, const char *device)
{
	printf("%s - %s %s\n", condition ? "ok" : "not ok", device, what);
	if (!condition)
		failures++;
}

static uint64_t word(uint64_t offset, const char *tag)
{
	uint64_t value = 0x9e3779b97f4a7c15ull ^ offset;
	for (const char *p = tag; *p; p++)
		value = value * 131 + (unsigned char)*p;
	return value;
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: %s DEVICE ALIGN SIZE [test|fill TAG|check TAG|zero]\n", argv[0]);
		return 2;
	}
	const char *device = argv[1];
	uint64_t align = strtoull(argv[2], NULL, 0), size = strtoull(argv[3], NULL, 0);
	const char *mode = argc > 4 ? argv[4] : "test";
	const char *tag = argc > 5 ? argv[5] : "daxpool";
	if (align == 0 || size == 0 || size % align != 0) {
		fprintf(stderr, "%s: bad ALIGN %llu or SIZE %llu\n", argv[0], (unsigned long long)align,
			(unsigned long long)size);
		return 2;
	}
	int fd = open(device, O_RDWR);
	if (fd < 0) {
		printf("not ok - %s open: %s\n", device, strerror(errno));
		return 1;
	}
	uint8_t *base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	check(base != MAP_FAILED, "mmap MAP_SHARED of the whole device", device);
	if (base == MAP_FAILED) {
		printf("# mmap: %s\n", strerror(errno));
		return 1;
	}
	check(((uintptr_t)base % align) == 0, "mapping lands at an ALIGN-aligned address", device);

	if (strcmp(mode, "zero") == 0) {
		uint64_t nonzero = 0, first = size;
		for (uint64_t offset = 0; offset < size; offset += 8)
			if (*(volatile uint64_t *)(base + offset) != 0) {
				if (first == size)
					first = offset;
				nonzero++;
			}
		check(nonzero == 0, "reads all zero", device);
		if (nonzero)
			printf("# %llu non-zero words, the first at offset 0x%llx\n", (unsigned long long)nonzero,
			       (unsigned long long)first);
		munmap(base, size);
		close(fd);
		return failures ? 1 : 0;
	}
	uint64_t offsets[3] = { 0, align / 2, align - 4096 };
	if (strcmp(mode, "fill") == 0 || strcmp(mode, "test") == 0) {
		for (uint64_t block = 0; block < size; block += align)
			for (int i = 0; i < 3; i++)
				*(volatile uint64_t *)(base + block + offsets[i]) = word(block + offsets[i], tag);
	}
	int mismatches = 0;
	for (uint64_t block = 0; block < size; block += align)
		for (int i = 0; i < 3; i++)
			if (*(volatile uint64_t *)(base + block + offsets[i]) != word(block + offsets[i], tag))
				mismatches++;
	check(mismatches == 0, strcmp(mode, "check") == 0 ? "still holds the tag" : "reads back what was written",
	      device);
	munmap(base, size);

	if (strcmp(mode, "test") == 0) {
		base = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
		mismatches = base == MAP_FAILED;
		for (uint64_t block = 0; !mismatches && block < size; block += align)
			if (*(volatile uint64_t *)(base + block) != word(block, tag))
				mismatches++;
		check(mismatches == 0, "a second mapping sees the same data", device);
		if (base != MAP_FAILED)
			munmap(base, size);

		void *private = mmap(NULL, align, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
		check(private == MAP_FAILED && errno == EINVAL, "MAP_PRIVATE fails with EINVAL", device);
		if (private != MAP_FAILED)
			munmap(private, align);
		if (align > 4096) {
			void *odd = mmap(NULL, align / 2, PROT_READ, MAP_SHARED, fd, 0);
			check(odd == MAP_FAILED && errno == EINVAL, "a length below ALIGN fails with EINVAL", device);
			if (odd != MAP_FAILED)
				munmap(odd, align / 2);
		}
	}
	close(fd);
	return failures ? 1 : 0;
}
