"""SSH to a node with fabric, host keys verified against known_hosts before any command.

fabric's Connection accepts any host key (it installs paramiko's AutoAddPolicy); here the
policy is RejectPolicy unless the operator opted in with ``--accept-new-host-keys``, and
even then a key that *differs* from a known one is refused (paramiko raises
BadHostKeyException whatever the policy).
"""

from __future__ import annotations

import codecs
import fcntl
import logging
import os
import select
import stat
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import paramiko
from fabric import Config, Connection

from havengate.errors import LockBusy, TransportError, UsageError
from havengate.quoting import shell_command
from havengate.transport.address import Destination, NodeAccess, validate_host
from havengate.transport.base import LOCK_BUSY, LOCK_SCRIPT, LineWriter, Result

log = logging.getLogger("havengate")

DEFAULT_SSH_CONFIG = Path("~/.ssh/config")
MAX_SSH_CONFIG_BYTES = 4 * 1024 * 1024  # a FIFO or /dev/zero would block or never end
DEFAULT_KNOWN_HOSTS = Path("~/.ssh/known_hosts")
KEEPALIVE_SECONDS = 15  # a partitioned node notices a dead session (and drops our lock)
class _AppendNewHostKey(paramiko.MissingHostKeyPolicy):
    """--accept-new-host-keys: trust a host seen for the first time and append one line to
    known_hosts (paramiko's AutoAddPolicy rewrites the whole file, dropping what it cannot
    parse). A key that differs from a known one never reaches a policy: it is refused."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str,
                         key: paramiko.PKey) -> None:
        client.get_host_keys().add(hostname, key.get_name(), key)
        line = f"{hostname} {key.get_name()} {key.get_base64()}\n".encode("ascii")
        try:
            append_line(self.path, line)
        except OSError as exc:
            log.warning("could not record the host key of %s in %s (%s): it is trusted for "
                        "this run only", hostname, self.path, exc.strerror or exc)


def append_line(path: Path, line: bytes) -> None:
    """Append one line with a single O_APPEND write, on a line of its own: a file whose
    last line has no newline gets one first, so no existing entry is ever glued to ours.
    The file keeps its mode and owner (it is never replaced); flock serialises writers,
    and a file renamed away meanwhile (ssh-keygen -R) is opened again, not written to."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    for _ in range(3):
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            if os.fstat(fd).st_ino != os.stat(path).st_ino:
                continue  # replaced while we waited for the lock
            size = os.fstat(fd).st_size
            data = (b"\n" if size and os.pread(fd, 1, size - 1) != b"\n" else b"") + line
            if os.write(fd, data) != len(data):
                raise OSError(f"short write to {path}")
            os.fsync(fd)
            return
        finally:
            os.close(fd)
    raise OSError(f"{path} kept being replaced while havengate tried to append to it")


def load_ssh_config(path: Path | None) -> paramiko.SSHConfig:
    """The OpenSSH client config; an explicitly named file must exist."""
    if path is None:
        default = DEFAULT_SSH_CONFIG.expanduser()
        return paramiko.SSHConfig.from_path(str(default)) if default.is_file() else paramiko.SSHConfig()
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_SSH_CONFIG_BYTES:
            raise UsageError(f"ssh config {path} is not a regular file of at most "
                             f"{MAX_SSH_CONFIG_BYTES // 1024} KiB")
        return paramiko.SSHConfig.from_path(str(path))
    except UsageError:
        raise
    except OSError as exc:
        raise UsageError(f"cannot read ssh config {path}: {exc.strerror or exc}") from exc
    except Exception as exc:  # paramiko raises ConfigParseError and plain exceptions
        raise UsageError(f"cannot parse ssh config {path}: {exc}") from exc


def check_private_key(host: str, identity: str) -> Path:
    """The private key a node's entry names (``~`` expanded, else relative to here, as
    Ansible takes it), read once now: a typo, an unreadable file or a public key is the
    operator's error (exit 2), not a node that refuses us. A key that needs a passphrase
    passes: paramiko skips it when it connects, and the agent may hold it."""
    key = Path(os.path.expanduser(identity))
    try:
        paramiko.PKey.from_path(key)
    except OSError as exc:
        reason = "is not a file" if not key.is_file() else f"cannot be read: {exc.strerror}"
        raise UsageError(f"{host}: private key {identity} {reason}") from exc
    except Exception as exc:  # cryptography's ValueError/TypeError, paramiko's SSHException
        if isinstance(exc, paramiko.PasswordRequiredException) or "password" in str(exc).lower():
            return key
        raise UsageError(f"{host}: private key {identity} is not a private key havengate can "
                         f"use: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") \
            from exc
    return key


def preflight_keys(access: NodeAccess, hosts: Iterable[str]) -> None:
    """Every private key these nodes' entries name, checked before any node is touched."""
    for host in hosts:
        identity = access.entry(host).identity_file
        if identity:
            check_private_key(host, identity)


class SshTransport:
    """One SSH connection per node, opened on first use, reused for every command."""

    def __init__(self, host: str, options: NodeAccess, ssh_config: paramiko.SSHConfig) -> None:
        self.name = validate_host(host)
        self._options = options
        self._locks_held = 0  # while a lock is held, a dropped connection must not reconnect
        destination = options.reach(host)
        connect_kwargs: dict = {"banner_timeout": options.connect_timeout,
                                "auth_timeout": options.connect_timeout}
        identity = options.entry(host).identity_file
        if identity:  # tried before any other key (the ssh config's, the agent's, ~/.ssh)
            connect_kwargs["key_filename"] = [str(check_private_key(host, identity))]
        try:
            self._connection = Connection(
                destination.host, user=destination.user, port=destination.port,
                config=Config(ssh_config=ssh_config),
                connect_timeout=max(1, round(options.connect_timeout)),
                connect_kwargs=connect_kwargs,
            )
        except (ValueError, TypeError) as exc:  # e.g. "Port notanumber" in the ssh config
            raise UsageError(f"{host}: the ssh config's settings for it cannot be used: {exc}") \
                from exc
        self._verify_host_keys(self._connection.client)

    def _known_hosts_files(self) -> list[Path]:
        if self._options.known_hosts is not None:
            return [self._options.known_hosts]
        configured = self._connection.ssh_config.get("userknownhostsfile")
        if configured:
            return [Path(os.path.expanduser(p)) for p in str(configured).split()]
        return [DEFAULT_KNOWN_HOSTS.expanduser()]

    def _verify_host_keys(self, client: paramiko.SSHClient) -> None:
        """Load known_hosts and set the policy before the first connect."""
        for option in ("proxyjump", "proxycommand"):
            if self._connection.ssh_config.get(option):
                raise UsageError(f"{self.name}: {option} in the ssh config is not supported: "
                                 "the hops' host keys could not be verified")
        files = self._known_hosts_files()
        self._primary_known_hosts = files[0]
        global_file = Path("/etc/ssh/ssh_known_hosts")
        for path in [*files, global_file]:
            if not path.is_file():
                continue
            try:
                client.load_system_host_keys(str(path))
            except Exception as exc:  # paramiko raises plain exceptions on odd lines
                raise UsageError(f"cannot read known_hosts {path}: {exc}") from exc
        client.set_missing_host_key_policy(
            _AppendNewHostKey(files[0])
            if self._options.accept_new_host_keys
            else paramiko.RejectPolicy()
        )

    def _describe(self) -> str:
        connection = self._connection
        return str(Destination(connection.user, connection.host, connection.port))

    def open(self, within: float | None = None) -> None:
        """Connect if not connected; ``within`` clips the connect, banner and auth waits
        (a caller with a deadline never waits longer than it has left)."""
        if self._locks_held and not self._connection.is_connected:
            raise TransportError(self.name, "the connection dropped while a lock was held; "
                                 "nothing more is done without it")
        if self._connection.is_connected:
            return
        wait = self._options.connect_timeout if within is None else max(
            0.5, min(self._options.connect_timeout, within))
        self._connection.connect_timeout = wait
        self._connection.connect_kwargs.update(banner_timeout=wait, auth_timeout=wait)
        try:
            self._connection.open()
            self._connection.transport.set_keepalive(KEEPALIVE_SECONDS)
        except paramiko.BadHostKeyException as exc:
            raise TransportError(
                self.name,
                f"host key MISMATCH for {self._describe()}: the server offered "
                f"{exc.key.get_name()} {exc.key.get_fingerprint().hex()} but known_hosts "
                f"({self._primary_known_hosts}) holds another key — refusing to connect "
                "(possible man-in-the-middle; fix known_hosts only if the host was reinstalled)",
                permanent=True,
            ) from exc
        except paramiko.AuthenticationException as exc:
            raise TransportError(
                self.name, f"authentication failed for {self._describe()}: {exc}", permanent=True,
            ) from exc
        except paramiko.SSHException as exc:
            message = str(exc)
            if "No authentication methods available" in message:  # no key at all
                agent = os.environ.get("SSH_AUTH_SOCK")
                raise TransportError(
                    self.name, f"authentication failed for {self._describe()}: no key to offer "
                    "(no identity-file or ansible_private_key_file for this node, no "
                    "IdentityFile in the ssh config, no ~/.ssh/id_* key, "
                    + (f"no key from the agent at {agent})" if agent else "no ssh-agent)"),
                    permanent=True,
                ) from exc
            if "not found in known_hosts" in message:
                raise TransportError(
                    self.name,
                    f"host key of {self._describe()} is not in known_hosts "
                    f"({self._primary_known_hosts}); add it (ssh-keyscan, then check the "
                    "fingerprint) or pass --accept-new-host-keys",
                    permanent=True,
                ) from exc
            session = self._connection.client.get_transport()
            banner = bool(session is not None and getattr(session, "remote_version", None))
            # paramiko says "No existing session" too when the banner wait ran out first
            if "Error reading SSH protocol banner" in message or (
                    "No existing session" in message and not banner):
                message = (f"no SSH banner within {wait:g} s "
                           "(is an SSH server listening there?)")
            raise TransportError(self.name, f"SSH error with {self._describe()}: {message}",
                                 transient=True) from exc
        except TimeoutError as exc:
            raise TransportError(
                self.name,
                f"connect to {self._describe()} timed out after {wait:g} s",
                transient=True,
            ) from exc
        except OSError as exc:
            raise TransportError(
                self.name, f"cannot connect to {self._describe()}: {_os_reason(exc)}", transient=True
            ) from exc

    def run(self, command: str, *, timeout: float) -> Result:
        return self._exec(command, timeout=timeout, line=None)

    def stream(self, command: str, *, timeout: float, line: Callable[[str], None]) -> Result:
        return self._exec(command, timeout=timeout, line=line)

    def _exec(self, command: str, *, timeout: float,
              line: Callable[[str], None] | None) -> Result:
        """The command on a channel of our own, read until the node closes it.

        Not through invoke's runner: it catches Ctrl-C and waits for the command to end (a
        vzmigrate can take hours, a verify sample seconds), so an operator's second Ctrl-C
        was swallowed. Here a KeyboardInterrupt leaves at once, closing the channel. One
        limit covers connect and command. ``line``: each line of output as it comes,
        stderr merged into it. No exit status from the node (the session died) is a
        TransportError, never a made-up exit code."""
        started = time.monotonic()
        deadline = started + timeout
        self.open(within=timeout)
        if time.monotonic() >= deadline:
            raise TransportError(self.name, f"command timed out after {timeout:g} s on "
                                 f"{self._describe()} (connecting took it all)")
        writer = LineWriter(line) if line is not None else None
        out, err = codecs.getincrementaldecoder("utf-8")("replace"), \
            codecs.getincrementaldecoder("utf-8")("replace")
        said: list[str] = []
        errors: list[str] = []
        channel = None
        try:
            session = self._connection.client.get_transport()
            channel = session.open_session(timeout=self._options.connect_timeout)
            if writer is not None:
                channel.set_combine_stderr(True)
            channel.exec_command(command)
            poller = select.poll()  # not select(): it fails on descriptors past 1024
            poller.register(channel.fileno(), select.POLLIN)
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TransportError(self.name, f"command timed out after {timeout:g} s "
                                         f"on {self._describe()}")
                # EOF read before the data: every byte of both streams precedes it, so when
                # both buffers are then found empty nothing is left to read
                ended = channel.eof_received or channel.closed
                while channel.recv_stderr_ready():
                    errors.append(err.decode(channel.recv_stderr(65536)))
                if channel.recv_ready():
                    text = out.decode(channel.recv(65536))
                    said.append(text)
                    if writer is not None:
                        writer.write(text)
                    continue
                if ended:
                    break
                poller.poll(min(1000, max(1, int(left * 1000))))
            exited = self._exit_status(channel, deadline, timeout)
        except (paramiko.SSHException, OSError) as exc:
            raise TransportError(self.name, f"connection to {self._describe()} broke: {exc}",
                                 transient=True) from exc
        finally:
            if channel is not None:
                channel.close()
        if writer is not None:
            writer.flush()
        return Result(stdout="".join(said) + out.decode(b"", final=True),
                      stderr="".join(errors) + err.decode(b"", final=True), exited=exited)

    def _exit_status(self, channel: paramiko.Channel, deadline: float, timeout: float) -> int:
        while not channel.exit_status_ready():
            left = deadline - time.monotonic()
            if left <= 0:
                raise TransportError(self.name, f"command timed out after {timeout:g} s on "
                                     f"{self._describe()}")
            if channel.closed:
                break
            channel.status_event.wait(min(1.0, left))
        status = channel.recv_exit_status() if channel.exit_status_ready() else -1
        if status == -1:
            raise TransportError(self.name, f"the session with {self._describe()} ended "
                                 "without the command's exit status (connection lost?)",
                                 transient=True)
        return status

    @contextmanager
    def lock(self, path: str, wait: float) -> Iterator[None]:
        """flock on the node, held by a session of its own that lives as long as we do."""
        self.open()
        channel = None
        try:
            channel = self._connection.client.get_transport().open_session()
            channel.settimeout(wait + self._options.connect_timeout)
            channel.exec_command(shell_command("sh", "-c", LOCK_SCRIPT, "havengate-lock", path,
                                               str(max(1, round(wait)))))
            deadline = time.monotonic() + wait + self._options.connect_timeout
            answer = _read_line(channel, deadline)
        except (paramiko.SSHException, OSError) as exc:
            if channel is not None:
                channel.close()  # else a late flock could hold the lock for nobody
            raise TransportError(self.name, f"cannot take lock {path}: {exc}") from exc
        try:
            if answer != "locked":
                status = channel.recv_exit_status() if channel.exit_status_ready() else None
                if status == LOCK_BUSY:
                    raise LockBusy(f"{self.name}: {path} is held by another havengate; "
                                   f"gave up after {wait:g} s")
                raise TransportError(self.name, f"cannot take lock {path} (exit {status}): "
                                     f"{channel.recv_stderr(4096).decode(errors='replace').strip()}")
            self._locks_held += 1
            try:
                yield
            finally:
                self._locks_held -= 1
        finally:
            channel.close()

    def close(self) -> None:
        self._connection.close()


def _os_reason(exc: OSError) -> str:
    errors = getattr(exc, "errors", None)  # paramiko NoValidConnectionsError: one per address
    if errors:
        return "; ".join(f"{addr[0]}:{addr[1]} {err.strerror or err}" for addr, err in errors.items())
    return exc.strerror or str(exc)


def _read_line(channel: paramiko.Channel, deadline: float) -> str:
    """The first line the channel prints, or what it printed before it closed."""
    data = b""
    while b"\n" not in data and time.monotonic() < deadline:
        chunk = channel.recv(64)
        if not chunk:
            break
        data += chunk
    if not data:
        channel.recv_exit_status()  # closed without a word: wait for its status
    return data.decode(errors="replace").strip()


def preflight(access: NodeAccess) -> None:
    """What every node shares (the ssh config, an explicit known_hosts), read once before a
    fleet's probes: a file that cannot be read is the operator's error (exit 2), not each
    node's failure (a scan would call every node unreadable)."""
    load_ssh_config(access.ssh_config)
    if access.known_hosts is not None and access.known_hosts.exists():
        try:
            paramiko.HostKeys(str(access.known_hosts))
        except Exception as exc:  # paramiko raises plain exceptions on odd lines
            raise UsageError(f"cannot read known_hosts {access.known_hosts}: {exc}") from exc
