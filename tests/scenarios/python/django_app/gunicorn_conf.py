"""gunicorn settings of the test app (read by run_gunicorn.py's gunicorn): report the worker's pid once it has
loaded the app. The launcher passes a pipe's write end in MEMSIGHT_READY_FD."""

import os


def post_worker_init(worker):
    fd = int(os.environ["MEMSIGHT_READY_FD"])
    os.write(fd, f"worker {os.getpid()}\n".encode())
    os.close(fd)  # the launcher reads until EOF; a later worker (after a crash) finds the fd closed
