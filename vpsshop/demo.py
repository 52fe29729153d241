"""`make run`: migrate the embedded SQLite database and serve the app locally."""

from __future__ import annotations

import os
import subprocess
import sys


def main() -> int:
    env = dict(os.environ)
    env.setdefault("VPSSHOP_ENV", "development")
    flask = [sys.executable, "-m", "flask", "--app", "wsgi"]
    subprocess.run([*flask, "db", "upgrade"], env=env, check=True)
    port = env.get("PORT", "5000")
    print(f"vpsshop is running at http://127.0.0.1:{port}/  (Ctrl-C stops it)", flush=True)
    try:
        return subprocess.call([*flask, "run", "--host", "127.0.0.1", "--port", port], env=env)
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
