/* clock.h: the daemon's two clocks, as seconds in a double. */
#ifndef MEMPROBE_CLOCK_H
#define MEMPROBE_CLOCK_H

#include <time.h>

/* Monotonic seconds: every interval and TTL in the daemon is measured on it. */
static inline double clock_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Wall-clock seconds since the epoch, for what is shown to people. */
static inline double clock_real(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#endif
