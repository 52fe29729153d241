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
