"""The holder of one lab node: its namespaces, its sshd, and the reaper of its processes.

Started by the lab as ``unshare --mount --uts --propagation private -- python holder.py
CONFIG`` so it is the first process of the node's mount and UTS namespaces. It

1. names the node (``sethostname``) and mounts the node's view: an overlay on ``/etc``
   (``/etc/vz/conf`` exists only on this node), an overlay on ``/var/lib`` with the node's
   private/root areas bound at ``/var/lib/vz/{private,root}``, and a /proc/cpuinfo with the
   node's fake CPU count;
2. becomes a child subreaper and reaps every process below it. This machine's PID 1 does
   not reap orphans, so without this every stopped container or finished sshd session
   would leave a zombie behind;
3. runs ``sshd -D`` as its child, restarting it on request;
4. serves the lab on an abstract Unix socket: ``run`` executes a command inside the node
   (as the holder's child, so its orphans are reaped here too), ``restart-sshd``,
   ``status`` and ``shutdown``. One JSON line in, one JSON line out.

Standard library only; started with ``python -I -S``.
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

PR_SET_CHILD_SUBREAPER = 36
BASE_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"


class Reaper(threading.Thread):
    """Reaps every child (own or adopted) and keeps the exit status of those asked for."""

    def __init__(self) -> None:
        super().__init__(name="reaper", daemon=True)
        self._cond = threading.Condition()
        self._status: dict[int, int] = {}

    def run(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, 0)
            except ChildProcessError:
                time.sleep(0.05)
                continue
            with self._cond:
                self._status[pid] = os.waitstatus_to_exitcode(status)
                if len(self._status) > 4096:  # statuses of adopted orphans nobody asks for
                    self._status.pop(next(iter(self._status)))
                self._cond.notify_all()

    def wait(self, pid: int, timeout: float) -> int | None:
        """Exit status of ``pid`` (negative: killed by that signal), None on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while pid not in self._status:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(left)
            return self._status.pop(pid)


def spawn(argv: list[str], env: dict[str, str], fds: tuple[int, int, int]) -> int:
    """posix_spawn in a new session with the given stdin/stdout/stderr (no fork in threads)."""
    actions = [(os.POSIX_SPAWN_DUP2, fd, target) for target, fd in enumerate(fds)]
    return os.posix_spawnp(argv[0], argv, env, file_actions=actions, setsid=True)


class Holder:
    """One node: config, sshd child, request handling."""

    def __init__(self, config: dict) -> None:
        self.config = config
        self.reaper = Reaper()
        self.sshd_pid: int | None = None
        self.stopping = threading.Event()
        self.lock = threading.Lock()

    # ----- setup
    def prepare(self) -> None:
        """Hostname and mounts, before any thread exists."""
        socket.sethostname(self.config["hostname"])
        for argv in self.config["mounts"]:
            subprocess.run(argv, check=True, capture_output=True, timeout=30)
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")
        self.reaper.start()

    def start_sshd(self) -> int:
        log = os.open(self.config["sshd_out"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        null = os.open(os.devnull, os.O_RDONLY)
        try:
            self.sshd_pid = spawn(self.config["sshd_argv"], {"PATH": BASE_PATH}, (null, log, log))
        finally:
            os.close(log)
            os.close(null)
        return self.sshd_pid

    def stop_sshd(self) -> None:
        pid, self.sshd_pid = self.sshd_pid, None
        if pid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        if self.reaper.wait(pid, 5.0) is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            self.reaper.wait(pid, 5.0)

    # ----- requests
    def handle(self, request: dict) -> dict:
        op = request.get("op")
        if op == "run":
            return self.run_command(request)
        if op == "status":
            return {"ok": True, "sshd_pid": self.sshd_pid, "pid": os.getpid()}
        if op == "restart-sshd":
            with self.lock:
                self.stop_sshd()
                return {"ok": True, "sshd_pid": self.start_sshd()}
        if op == "shutdown":
            self.stopping.set()
            return {"ok": True}
        return {"ok": False, "error": f"unknown op {op!r}"}

    def run_command(self, request: dict) -> dict:
        """Run argv inside the node; stdout/stderr go through files, so no pipe can block."""
        env = {"PATH": BASE_PATH, "HOME": self.config["home"], **request.get("env", {})}
        timeout = float(request.get("timeout", 60))
        with (
            tempfile.TemporaryFile() as fin,
            tempfile.TemporaryFile() as fout,
            tempfile.TemporaryFile() as ferr,
        ):
            fin.write(base64.b64decode(request.get("stdin", "")))
            fin.seek(0)
            try:
                pid = spawn(request["argv"], env, (fin.fileno(), fout.fileno(), ferr.fileno()))
            except OSError as error:
                return {"ok": False, "error": f"cannot run {request['argv'][0]}: {error}"}
            status = self.reaper.wait(pid, timeout)
            timed_out = status is None
            if timed_out:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)
                status = self.reaper.wait(pid, 5.0)
            fout.seek(0)
            ferr.seek(0)
            return {
                "ok": True,
                "rc": status,
                "timed_out": timed_out,
                "stdout": base64.b64encode(fout.read()).decode(),
                "stderr": base64.b64encode(ferr.read()).decode(),
            }

    def serve_client(self, conn: socket.socket) -> None:
        with conn, conn.makefile("rwb") as stream:
            try:
                request = json.loads(stream.readline())
                reply = self.handle(request)
            except (ValueError, KeyError, OSError) as error:
                reply = {"ok": False, "error": f"{type(error).__name__}: {error}"}
            stream.write(json.dumps(reply).encode() + b"\n")
            stream.flush()

    def serve(self) -> None:
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind("\0" + self.config["socket"])
        server.listen(16)
        server.settimeout(0.2)
        print(f"holder {os.getpid()} ready", flush=True)
        while not self.stopping.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            conn.settimeout(None)
            threading.Thread(target=self.serve_client, args=(conn,), daemon=True).start()
        server.close()

    # ----- shutdown
    def shutdown(self) -> None:
        """Stop sshd, SIGKILL whatever is still below the holder, reap it (bounded)."""
        with self.lock:
            self.stop_sshd()
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:
            children = _children(os.getpid())
            if not children:
                return
            for pid in children:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.05)


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            found += [int(c) for c in (task / "children").read_text().split()]
    return found


def main(argv: list[str]) -> int:
    config = json.loads(Path(argv[0]).read_text())
    holder = Holder(config)
    signal.signal(signal.SIGTERM, lambda *_: holder.stopping.set())
    signal.signal(signal.SIGINT, lambda *_: holder.stopping.set())
    holder.prepare()
    holder.start_sshd()
    try:
        holder.serve()
    finally:
        holder.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
