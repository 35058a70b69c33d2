/* examples/countdown.c — the runtime in one page: spawn, sleep, gather, wait_for, to_thread.
 * Build: cc countdown.c $(pkg-config --cflags --libs ahttp) */
#include <stdio.h>
#include <unistd.h>

#include <ahttp/ahttp.h>

static int countdown(void *arg)
{
    const char *name = arg;
    for (int i = 3; i > 0; i--) {
        printf("%s: %d\n", name, i);
        int rc = ah_sleep(10); /* suspends this task only */
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int blocking_work(void *arg)
{
    usleep(20000); /* fine here: this runs on a pool thread, not in the loop */
    return 42;
}

static int forever(void *arg) { return ah_sleep(60 * 1000); }

static int amain(void *arg)
{
    ah_task *tasks[2] = {ah_spawn(countdown, "A"), ah_spawn(countdown, "B")};
    int results[2];
    int rc = ah_gather(tasks, 2, results); /* A and B interleave */
    if (rc < 0)
        return rc;
    printf("thread says %d\n", ah_to_thread(blocking_work, NULL));
    rc = ah_wait_for(ah_spawn(forever, NULL), 50);
    printf("wait_for: %s\n", ah_strerror(rc));
    return rc == AH_ETIMEDOUT ? 0 : 1;
}

int main(void) { return ah_run(amain, NULL) == 0 ? 0 : 1; }
