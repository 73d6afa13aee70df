"""`make run`: migrate, seed the demo, then serve web, Celery worker and beat, and a demo node.

Embedded defaults so a newcomer needs only Python: SQLite and kombu's filesystem broker, unless
DATABASE_URL / REDIS_URL say otherwise. Ctrl-C stops everything this started.
"""

import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent


def _environment() -> dict:
    env = dict(os.environ)
    var_dir = Path(env.get("INFER_VAR_DIR", BASE_DIR / "var"))
    for sub in ("", "broker/queue", "broker/processed", "private"):
        (var_dir / sub).mkdir(parents=True, exist_ok=True)
    env.setdefault("DEBUG", "true")
    if not env.get("SECRET_KEY"):
        key_file = var_dir / "secret_key"
        if not key_file.exists():
            key_file.write_text(secrets.token_urlsafe(50))
            key_file.chmod(0o600)
        env["SECRET_KEY"] = key_file.read_text().strip()
    port = env.get("PORT", "8000")
    env.setdefault("SITE_URL", f"http://127.0.0.1:{port}")
    env.setdefault("DEMO_NODE_PORT", str(int(port) + 1))
    env.setdefault("DEMO_NODE_URL", f"http://127.0.0.1:{env['DEMO_NODE_PORT']}")
    env["PYTHONUNBUFFERED"] = "1"
    return env


def main() -> int:
    env = _environment()
    python = sys.executable
    manage = [python, str(BASE_DIR / "manage.py")]
    for step in (["migrate", "--no-input"], ["seed_demo"]):
        subprocess.run(manage + step, env=env, cwd=BASE_DIR, check=True)  # noqa: S603

    port = env.get("PORT", "8000")
    commands = {
        "web": [python, "-m", "uvicorn", "infer.asgi:application", "--host", "127.0.0.1", "--port", port],
        "worker": [python, "-m", "celery", "-A", "infer", "worker", "--pool=threads", "-c", "4", "-l", "INFO"],
        "beat": [python, "-m", "celery", "-A", "infer", "beat", "-l", "INFO"],
    }
    if (BASE_DIR / "usage" / "management" / "commands" / "run_demo_node.py").exists():
        commands["node"] = [*manage, "run_demo_node", "--port", env["DEMO_NODE_PORT"]]

    children = {name: subprocess.Popen(cmd, env=env, cwd=BASE_DIR) for name, cmd in commands.items()}  # noqa: S603
    print(f"\nINFER is running at http://127.0.0.1:{port}/ — press Ctrl-C to stop.\n", flush=True)

    stopping = False

    def stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    status = 0
    while not stopping:
        for name, child in children.items():
            if child.poll() is not None:
                print(f"{name} exited with status {child.returncode}; stopping the others.", flush=True)
                status = child.returncode or 1
                stopping = True
                break
        time.sleep(0.3)
    for child in children.values():
        if child.poll() is None:
            child.terminate()
    deadline = time.monotonic() + 10
    for child in children.values():
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
    return status


if __name__ == "__main__":
    sys.exit(main())
