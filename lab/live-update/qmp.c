/* qmp: sends QMP commands to a QEMU monitor socket (the lab guest's busybox has no unix-socket client).
 *
 *   qmp SOCKET COMMAND...
 *   qmp now                 prints the time as epoch milliseconds (busybox date has no %N)
 *
 * Connects (retrying for up to 30 s while QEMU starts), negotiates (qmp_capabilities), then runs each COMMAND in
 * turn and prints "qmp: <epoch ms> <command> -> <answer>" per command. A COMMAND is a JSON object to send, or
 *   wait-migrate    poll query-migrate until the migration (outgoing or incoming) is completed; fail if it failed
 * Events are skipped. Exits 1 on an error answer, a failed migration, or a closed socket.
 * Build: gcc -static -O2 -o qmp qmp.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static int fd;
static char buf[65536];
static size_t have;

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* the next line QEMU sends (without its CR LF) in line, or -1 when the socket closed */
static int read_line(char *line, size_t size)
{
	for (;;) {
		char *nl = memchr(buf, '\n', have);
		if (nl) {
			size_t n = (size_t)(nl - buf);
			size_t keep = n < size - 1 ? n : size - 1;
			memcpy(line, buf, keep);
			line[keep] = 0;
			if (keep && line[keep - 1] == '\r')
				line[keep - 1] = 0;
			memmove(buf, nl + 1, have - n - 1);
			have -= n + 1;
			return 0;
		}
		if (have == sizeof buf)
			have = 0; /* an absurdly long line: drop it */
		ssize_t r = read(fd, buf + have, sizeof buf - have);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		have += (size_t)r;
	}
}

/* sends command and returns its answer (the first line that is not an event) in answer; 0 for "return" */
static int execute(const char *command, char *answer, size_t size)
{
	size_t len = strlen(command);
	if (write(fd, command, len) != (ssize_t)len || write(fd, "\n", 1) != 1) {
		perror("qmp: write");
		return -1;
	}
	for (;;) {
		if (read_line(answer, size) < 0) {
			snprintf(answer, size, "(the socket closed)");
			return strstr(command, "\"quit\"") ? 0 : -1;
		}
		if (strstr(answer, "\"event\""))
			continue;
		return strstr(answer, "\"return\"") ? 0 : -1;
	}
}

int main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "now") == 0) {
		printf("%lld\n", now_ms());
		return 0;
	}
	if (argc < 3) {
		fprintf(stderr, "usage: qmp SOCKET COMMAND...\n");
		return 2;
	}
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	snprintf(addr.sun_path, sizeof addr.sun_path, "%s", argv[1]);
	for (int i = 0;; i++) {
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd >= 0 && connect(fd, (struct sockaddr *)&addr, sizeof addr) == 0)
			break;
		if (i == 300) {
			perror(argv[1]);
			return 1;
		}
		close(fd);
		usleep(100000);
	}
	static char line[65536];
	if (read_line(line, sizeof line) < 0 || !strstr(line, "\"QMP\"")) {
		fprintf(stderr, "qmp: no greeting from %s\n", argv[1]);
		return 1;
	}
	if (execute("{\"execute\":\"qmp_capabilities\"}", line, sizeof line) != 0) {
		fprintf(stderr, "qmp: qmp_capabilities -> %s\n", line);
		return 1;
	}
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "wait-migrate") == 0) {
			long long started = now_ms();
			for (;;) {
				if (execute("{\"execute\":\"query-migrate\"}", line, sizeof line) != 0)
					break;
				if (strstr(line, "\"completed\"") || strstr(line, "\"failed\"") || strstr(line, "\"cancelled\""))
					break;
				usleep(50000);
			}
			printf("qmp: %lld wait-migrate (%lld ms) -> %s\n", now_ms(), now_ms() - started, line);
			fflush(stdout);
			if (!strstr(line, "\"completed\""))
				return 1;
			continue;
		}
		int status = execute(argv[i], line, sizeof line);
		printf("qmp: %lld %s -> %s\n", now_ms(), argv[i], line);
		fflush(stdout);
		if (status != 0)
			return 1;
	}
	return 0;
}
