"""Run a command and measure it alone (used by bench/run-client.sh and bench/run-crawl.sh).

    measure.py OUT CMD...

CMD's stdout and stderr go to OUT.log; OUT gets one line "wall_s cpu_s maxrss_kib exit": its
wall time, user+system CPU time and peak RSS from wait4() (GNU time's 10 ms CPU granularity is
too coarse for runs of 0.2 s), and its exit status. posix_spawn starts CMD directly, so no shell
is counted.
"""
import os
import sys
import time

out, argv = sys.argv[1], sys.argv[2:]
log = os.open(out + ".log", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
t0 = time.monotonic()
pid = os.posix_spawnp(argv[0], argv, os.environ, file_actions=[
    (os.POSIX_SPAWN_DUP2, log, 1), (os.POSIX_SPAWN_DUP2, log, 2)])
_, status, ru = os.wait4(pid, 0)
wall = time.monotonic() - t0
with open(out, "w") as f:
    f.write(f"{wall:.4f} {ru.ru_utime + ru.ru_stime:.4f} {ru.ru_maxrss} "
            f"{os.waitstatus_to_exitcode(status)}\n")
