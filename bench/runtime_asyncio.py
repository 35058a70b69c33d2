#!/usr/bin/python3
"""asyncio counterparts of bench/bench_runtime.c, printed as "name value unit" lines.

Run with Debian's /usr/bin/python3 (bench/run-runtime.sh does):
  switch_ns          two tasks ping-ponging with `await asyncio.sleep(0)`; total time divided by
                     the number of yields (2 x iterations), as bench_runtime counts ah_yield
  spawn_join_ns      asyncio.create_task() + await of a coroutine that returns at once
  sleep0_ns          `await asyncio.sleep(0)` round trip of a lone task
  rss_100k_mib       VmRSS with 100,000 tasks asleep in asyncio.sleep() at once
  rss_100k_delta_mib the same minus VmRSS before the tasks were created

asyncio's loop always has its self-pipe registered, so every turn calls epoll_wait (with a zero
timeout while tasks are ready): compare with bench_runtime's *_poll_ns figures as well.
An optional argument sets the iteration count (default 200,000, a tenth of the C default).
"""

import asyncio
import sys
import time

SLEEPERS = 100_000


def rss_kib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


async def pinger(n):
    for _ in range(n):
        await asyncio.sleep(0)


async def bench_switch(n):
    a = asyncio.create_task(pinger(n))
    b = asyncio.create_task(pinger(n))
    t0 = time.perf_counter_ns()
    await asyncio.gather(a, b)
    print(f"switch_ns {(time.perf_counter_ns() - t0) / (2 * n):.1f} ns")


async def nothing():
    return 0


async def bench_spawn_join(n):
    t0 = time.perf_counter_ns()
    for _ in range(n):
        if await asyncio.create_task(nothing()) != 0:
            raise RuntimeError("nothing() failed")
    print(f"spawn_join_ns {(time.perf_counter_ns() - t0) / n:.1f} ns")


async def bench_sleep0(n):
    t0 = time.perf_counter_ns()
    for _ in range(n):
        await asyncio.sleep(0)
    print(f"sleep0_ns {(time.perf_counter_ns() - t0) / n:.1f} ns")


async def bench_rss():
    before = rss_kib()
    tasks = [asyncio.create_task(asyncio.sleep(1.0)) for _ in range(SLEEPERS)]
    await asyncio.sleep(0.2)  # every task has started and is asleep
    now = rss_kib()
    print(f"rss_100k_mib {now / 1024:.1f} MiB")
    print(f"rss_100k_delta_mib {(now - before) / 1024:.1f} MiB")
    await asyncio.gather(*tasks)


def main():
    iterations = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    # Same split as bench_runtime.c: switch runs `iterations` per task, the others half as many.
    asyncio.run(bench_switch(iterations))
    asyncio.run(bench_spawn_join(iterations // 2))
    asyncio.run(bench_sleep0(iterations // 2))
    asyncio.run(bench_rss())
    sys.stdout.flush()


if __name__ == "__main__":
    main()
