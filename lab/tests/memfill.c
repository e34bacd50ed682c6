/* memfill: a host process whose pages the elastic-carve lab test puts into lent (kmem) memory.
 *
 *   memfill MIB READY_FILE
 *
 * Allocates MIB MiB of anonymous memory, writes a pattern into every 4 KiB page (movable user pages: the page
 * allocator takes them from ZONE_MOVABLE first, where the lent memory blocks are), creates READY_FILE, and sleeps.
 * On SIGUSR1 it checks every page still holds its pattern (the kernel migrated, never lost, them) and prints
 * "memfill: intact N MiB" or "memfill: CORRUPT at page P"; on SIGTERM it exits.
 * Build: gcc -static -O2 -o memfill memfill.c
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

static volatile sig_atomic_t check_requested;

static void on_usr1(int signal_number) { (void)signal_number; check_requested = 1; }

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: memfill MIB READY_FILE\n");
		return 2;
	}
	size_t mib = strtoul(argv[1], NULL, 10);
	size_t length = mib << 20, pages = length >> 12;
	uint64_t *memory = mmap(NULL, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (memory == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	for (size_t page = 0; page < pages; page++)
		for (size_t word = 0; word < 512; word += 64)
			memory[page * 512 + word] = 0x6d656d66696c6c00ULL ^ (page * 512 + word);
	signal(SIGUSR1, on_usr1);
	FILE *ready = fopen(argv[2], "w");
	if (ready) fclose(ready);
	for (;;) {
		pause();
		if (!check_requested) continue;
		check_requested = 0;
		size_t bad = pages;
		for (size_t page = 0; page < pages && bad == pages; page++)
			for (size_t word = 0; word < 512; word += 64)
				if (memory[page * 512 + word] != (0x6d656d66696c6c00ULL ^ (page * 512 + word))) bad = page;
		if (bad == pages) printf("memfill: intact %zu MiB\n", mib);
		else printf("memfill: CORRUPT at page %zu\n", bad);
		fflush(stdout);
	}
}
