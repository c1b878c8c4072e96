"""The havengate command as the lab tests run it: the installed console script, over the
lab's ssh config, with no terminal on stdin."""

from __future__ import annotations

import os
import shutil
import subprocess

from lab import Lab

HAVENGATE = shutil.which("havengate") or "havengate"


def havengate(lab: Lab, *args: str, env: dict[str, str] | None = None,
              timeout: float = 200) -> subprocess.CompletedProcess:
    """``havengate ARGS --ssh-config <the lab's>``; ``timeout`` only bounds a hung run."""
    return subprocess.run([HAVENGATE, *args, "--ssh-config", str(lab.ssh_config)],
                          capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL, env={**os.environ, **(env or {})})
