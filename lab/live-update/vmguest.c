/* vmguest.c: the tiny guest of scripts/lab-live-update (issue 15), a static multiboot kernel without libc.
 *
 * It fills PATTERN_SIZE bytes of its RAM (from PATTERN_BASE) with a pattern derived from each word's address and
 * a seed read from the CPU's time stamp counter at boot, then loops forever: it verifies the pattern one 4 KiB page
 * at a time (a full sweep is a pass over all of it), keeps a counter in RAM, and about every 100 ms of virtual time
 * (PIT channel 0, polled) prints on COM1
 *
 *     VM-COUNTER <counter> seed <seed> sweeps <full sweeps> OK|BAD
 *
 * BAD (for ever after) once any word of the pattern differs. A guest resumed on the same RAM continues its counter;
 * one booted afresh starts at 1 with another seed; one whose RAM was lost does not run at all.
 *
 * Build: gcc -m32 -ffreestanding -fno-pic -fno-stack-protector -nostdlib -O2 -c vmguest.c, then
 *        ld -m elf_i386 -T vmguest.ld -o vmguest.elf vmguest.o vmguest-entry.o
 */
typedef unsigned int u32;
typedef unsigned long long u64;

#define PATTERN_BASE 0x400000u   /* 4 MiB */
#define PATTERN_SIZE 0x200000u   /* 2 MiB */
#define TICKS_PER_PRINT 119318u  /* 100 ms of the 1.193182 MHz PIT */

static volatile u32 counter;
static volatile u32 sweeps;
static volatile u32 bad;
static u32 seed;

static inline void outb(unsigned short port, unsigned char v) { __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port)); }
static inline unsigned char inb(unsigned short port)
{
	unsigned char v;
	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}
static inline u64 rdtsc(void)
{
	u32 lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((u64)hi << 32) | lo;
}

static void putc_serial(char c)
{
	while (!(inb(0x3f8 + 5) & 0x20))
		;
	outb(0x3f8, (unsigned char)c);
}
static void puts_serial(const char *s)
{
	while (*s)
		putc_serial(*s++);
}
static void putu(u32 v)
{
	char buf[12];
	int i = 0;
	do {
		buf[i++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (i)
		putc_serial(buf[--i]);
}

static inline u32 pattern_word(u32 address) { return (address * 2654435761u) ^ seed ^ (address >> 7); }

/* PIT channel 0 in mode 2 (rate generator) with the full 65536 count: read it latched */
static u32 pit_read(void)
{
	outb(0x43, 0x00);
	u32 lo = inb(0x40);
	u32 hi = inb(0x40);
	return (hi << 8) | lo;
}

void vm_main(void)
{
	outb(0x3f8 + 1, 0x00); /* COM1: no interrupts, 115200 8N1 */
	outb(0x3f8 + 3, 0x80);
	outb(0x3f8 + 0, 0x01);
	outb(0x3f8 + 1, 0x00);
	outb(0x3f8 + 3, 0x03);
	outb(0x43, 0x34); /* PIT channel 0, lo/hi, mode 2, count 65536 */
	outb(0x40, 0x00);
	outb(0x40, 0x00);

	seed = (u32)rdtsc() | 1u;
	puts_serial("VM-BOOT seed ");
	putu(seed);
	puts_serial(" filling the pattern\n");
	for (u32 a = PATTERN_BASE; a < PATTERN_BASE + PATTERN_SIZE; a += 4)
		*(volatile u32 *)a = pattern_word(a);

	u32 page = 0;
	u32 last = pit_read();
	u32 elapsed = 0;
	for (;;) {
		u32 base = PATTERN_BASE + page * 4096u;
		for (u32 a = base; a < base + 4096u; a += 4)
			if (*(volatile u32 *)a != pattern_word(a))
				bad = 1;
		if (++page == PATTERN_SIZE / 4096u) {
			page = 0;
			sweeps = sweeps + 1;
		}
		u32 now = pit_read();
		elapsed += (last - now) & 0xffffu;
		last = now;
		if (elapsed >= TICKS_PER_PRINT) {
			elapsed = 0;
			counter = counter + 1;
			puts_serial("VM-COUNTER ");
			putu(counter);
			puts_serial(" seed ");
			putu(seed);
			puts_serial(" sweeps ");
			putu(sweeps);
			puts_serial(bad ? " BAD\n" : " OK\n");
		}
	}
}
