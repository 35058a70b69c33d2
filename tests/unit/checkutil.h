/* Helpers shared by the Check suites. */
#ifndef AH_CHECKUTIL_H
#define AH_CHECKUTIL_H

#include <check.h>

#include <ahttp/ahttp.h>

/* Run suite s with Check's runner; print the summary; return the process exit status. */
int ah_check_run(Suite *s);

/* 1 when the test runs under valgrind (timing bounds are relaxed there). */
int ah_check_slow(void);

/* Number of open file descriptors of this process (from /proc/self/fd). */
int ah_check_open_fds(void);

/* Milliseconds elapsed since `start` (an ah_now_ms() value). */
int64_t ah_check_elapsed(int64_t start);

#endif
