/* vmguest.S: multiboot entry of the tiny guest scripts/lab-live-update runs under a nested QEMU (see vmguest.c).
 * Build: gcc -m32 -c vmguest.S; linked with vmguest.ld (ld -m elf_i386). */
	.section .multiboot, "a"
	.align 4
	.long 0x1BADB002		/* magic */
	.long 0				/* flags: ELF kernel, nothing asked of the loader */
	.long -0x1BADB002		/* checksum */

	.section .text
	.globl _start
_start:
	cli
	movl $stack_top, %esp
	call vm_main
1:	hlt
	jmp 1b

	.section .bss
	.align 16
	.space 16384
stack_top:

	.section .note.GNU-stack, "", @progbits
