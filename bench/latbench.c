/* SPDX-License-Identifier: MIT */
/* The batch-beside-latency benchmark's workloads (bench/qos.sh), loopback only:
 *   latbench server PORT WORK_US         UDP echo server; each request costs WORK_US of CPU
 *   latbench client PORT RATE SECONDS    open-loop client: RATE requests/s at fixed times; prints
 *                                        sent, answered, p50/p90/p99/p999/max response time (us),
 *                                        measured from each request's scheduled send time (so a
 *                                        late send counts against the server, no coordinated
 *                                        omission)
 *   latbench hog cpu|mem|io SECONDS [MB|DIR]   a batch hog: spin; touch MB MiB over and over;
 *                                        write and fsync 1 MiB blocks to a file in DIR
 * Requests that see no answer within 1 s count as lost and as 1 s in the percentiles. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define LOST_US 1000000

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}

static uint64_t cpu_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}

static void sleep_until(uint64_t t)
{
	struct timespec ts = { (time_t) (t / 1000000), (long) (t % 1000000) * 1000 };

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

static int udp_socket(int port, bool bind_it)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t) port) };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0)
		return -1;
	if (bind_it ? bind(fd, (struct sockaddr *) &a, sizeof(a))
		    : connect(fd, (struct sockaddr *) &a, sizeof(a))) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Work of a fixed CPU cost: spin on this thread's CPU clock, so being descheduled does not
 * shorten it (the response time then shows the wait). */
static void work(uint64_t us)
{
	uint64_t end = cpu_us() + us;
	volatile uint64_t x = 0;

	while (cpu_us() < end)
		for (int i = 0; i < 200; i++)
			x += (uint64_t) i;
}

static int server(int port, uint64_t work_us)
{
	int fd = udp_socket(port, true);
	uint64_t msg[2];
	struct sockaddr_in from;
	socklen_t fl;

	if (fd < 0) {
		perror("latbench server: bind");
		return 1;
	}
	for (;;) {
		ssize_t n;

		fl = sizeof(from);
		n = recvfrom(fd, msg, sizeof(msg), 0, (struct sockaddr *) &from, &fl);
		if (n != sizeof(msg))
			continue;
		work(work_us);
		(void) sendto(fd, msg, sizeof(msg), 0, (struct sockaddr *) &from, fl);
	}
}

struct client {
	int fd;
	uint64_t n, *sched, *lat; /* lat[i] = 0: no answer yet */
	volatile int done;
};

static void *receiver(void *arg)
{
	struct client *c = arg;
	uint64_t msg[2];

	while (!c->done) {
		ssize_t n = recv(c->fd, msg, sizeof(msg), 0);

		if (n == sizeof(msg) && msg[0] < c->n && !c->lat[msg[0]]) {
			uint64_t l = now_us() - msg[1];

			c->lat[msg[0]] = l ? l : 1; /* 0 means "no answer" */
		}
	}
	return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;

	return x < y ? -1 : x > y;
}

static uint64_t pct(const uint64_t *v, uint64_t n, double p)
{
	uint64_t i = (uint64_t) (p * (double) (n - 1) + 0.5);

	return v[i < n ? i : n - 1];
}

static int client(int port, uint64_t rate, double secs)
{
	struct client c = { .fd = udp_socket(port, false) };
	struct timeval tv = { 0, 100000 };
	uint64_t t0, lost = 0;
	pthread_t th;

	if (c.fd < 0 || rate == 0) {
		perror("latbench client");
		return 1;
	}
	c.n = (uint64_t) ((double) rate * secs);
	c.sched = calloc(c.n ? c.n : 1, sizeof(uint64_t));
	c.lat = calloc(c.n ? c.n : 1, sizeof(uint64_t));
	if (!c.sched || !c.lat)
		return 1;
	(void) setsockopt(c.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	pthread_create(&th, NULL, receiver, &c);
	t0 = now_us() + 10000;
	for (uint64_t i = 0; i < c.n; i++) {
		uint64_t msg[2] = { i, t0 + i * 1000000 / rate };

		c.sched[i] = msg[1];
		sleep_until(msg[1]);
		(void) send(c.fd, msg, sizeof(msg), 0);
	}
	sleep_until(now_us() + LOST_US);
	c.done = 1;
	pthread_join(th, NULL);
	for (uint64_t i = 0; i < c.n; i++)
		if (!c.lat[i]) {
			c.lat[i] = LOST_US;
			lost++;
		}
	qsort(c.lat, c.n, sizeof(uint64_t), cmp_u64);
	printf("sent=%llu lost=%llu p50_us=%llu p90_us=%llu p99_us=%llu p999_us=%llu max_us=%llu\n",
	       (unsigned long long) c.n, (unsigned long long) lost,
	       (unsigned long long) pct(c.lat, c.n, 0.5), (unsigned long long) pct(c.lat, c.n, 0.9),
	       (unsigned long long) pct(c.lat, c.n, 0.99),
	       (unsigned long long) pct(c.lat, c.n, 0.999), (unsigned long long) c.lat[c.n - 1]);
	return 0;
}

static int hog(const char *kind, double secs, const char *arg)
{
	uint64_t end = now_us() + (uint64_t) (secs * 1e6);

	if (!strcmp(kind, "cpu")) {
		while (now_us() < end)
			work(10000);
		return 0;
	}
	if (!strcmp(kind, "mem")) {
		size_t len = (size_t) atol(arg ? arg : "256") << 20;
		char *p = malloc(len);

		if (!p)
			return 1;
		while (now_us() < end)
			for (size_t i = 0; i < len; i += 4096)
				p[i]++;
		return 0;
	}
	if (!strcmp(kind, "io")) {
		char path[4096], *buf = calloc(1, 1 << 20);
		int fd;

		snprintf(path, sizeof(path), "%s/latbench-io.%d", arg ? arg : "/tmp", getpid());
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd < 0 || !buf)
			return 1;
		unlink(path);
		for (int i = 0; now_us() < end; i = (i + 1) % 64) {
			if (pwrite(fd, buf, 1 << 20, (off_t) i << 20) < 0 || fdatasync(fd) < 0)
				return 1;
		}
		return 0;
	}
	return 2;
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "server"))
		return server(atoi(argv[2]), strtoull(argv[3], NULL, 10));
	if (argc == 5 && !strcmp(argv[1], "client"))
		return client(atoi(argv[2]), strtoull(argv[3], NULL, 10), atof(argv[4]));
	if ((argc == 4 || argc == 5) && !strcmp(argv[1], "hog"))
		return hog(argv[2], atof(argv[3]), argc == 5 ? argv[4] : NULL);
	fprintf(stderr, "usage: latbench server PORT WORK_US | client PORT RATE SECONDS | "
			"hog cpu|mem|io SECONDS [MB|DIR]\n");
	return 2;
}
