"""Gunicorn settings for the ``web`` process (Procfile)."""

import os

# HOST lets tests and the demo bind to loopback; platforms route to 0.0.0.0:$PORT.
bind = f"{os.environ.get('HOST', '0.0.0.0')}:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# Threads let long-lived SSE streams coexist with ordinary requests in one process.
worker_class = "gthread"
threads = int(os.environ.get("WEB_THREADS", "16"))
# With gthread this bounds a stuck worker process (its heartbeat), not one request: an
# event stream may stay open longer while the process keeps serving others.
timeout = int(os.environ.get("WEB_TIMEOUT", "60"))
# Below the 30 s platforms wait between SIGTERM and SIGKILL.
graceful_timeout = 20
keepalive = 5
accesslog = "-"
errorlog = "-"
proc_name = "vpsshop-web"
# Trust no address's X-Forwarded-* here (gunicorn's own default trusts loopback): the app
# alone decides, through TRUST_PROXY_HOPS, so that TRUST_PROXY_HOPS=0 means what it says.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "")
# The heartbeat file on a RAM disk: a slow container disk cannot get workers killed.
if os.path.isdir("/dev/shm"):
    worker_tmp_dir = "/dev/shm"


# Prometheus multiprocess mode (README "Metrics"): each web process writes its metrics to
# files in PROMETHEUS_MULTIPROC_DIR and GET /metrics adds them up. The directory is
# emptied when gunicorn starts (values of an earlier run would be counted again), and a
# process that exits has its live gauges dropped.
def on_starting(server):
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        os.makedirs(directory, exist_ok=True)
        for name in os.listdir(directory):
            if name.endswith(".db"):
                os.remove(os.path.join(directory, name))


def child_exit(server, worker):
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
