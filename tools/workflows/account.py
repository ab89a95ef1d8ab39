"""The non-root user the workflow tier runs steps as, as GitHub's `ubuntu-24.04` runner does.

GitHub runs steps as `runner`, a user with passwordless sudo (in the `docker` group). Here,
as root (this machine, CI), the tier makes such a user once: `fyntrix-runner`, its own home,
passwordless sudo through one file in /etc/sudoers.d, and the `docker` group where it exists.
Run by a user who is not root, the tier runs the steps as that user, whose sudo then decides
whether the apt step can run (as it would on a self-hosted runner).
"""

from __future__ import annotations

import dataclasses
import grp
import os
import pwd
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

RUNNER_USER: Final = "fyntrix-runner"
SUDOERS_FILE: Final = Path("/etc/sudoers.d/fyntrix-runner")


class AccountError(RuntimeError):
    """The runner account cannot be made or used here."""


@dataclass(frozen=True)
class Account:
    name: str
    uid: int
    gid: int
    groups: tuple[int, ...]
    home: Path
    # False when the tier already runs as this (non-root) user: no switch.
    switch: bool

    def popen(self, argv: list[str], **kwargs: Any) -> subprocess.Popen[str]:
        """`argv` started as this user (text mode), with subprocess.Popen's `kwargs`."""
        return subprocess.Popen(
            argv,
            text=True,
            user=self.uid if self.switch else None,
            group=self.gid if self.switch else None,
            extra_groups=list(self.groups) if self.switch else None,
            **kwargs,
        )

    def can_enter(self, path: Path) -> bool:
        """Whether this user may reach `path` (search permission on it and every parent)."""
        probe = self.popen(["test", "-x", str(path)])
        return probe.wait() == 0

    def can_write(self, path: Path) -> bool:
        """Whether this user may write `path` (a socket: connect to it)."""
        probe = self.popen(["test", "-w", str(path)])
        return probe.wait() == 0

    def chown(self, path: Path) -> None:
        if self.switch:
            subprocess.run(["chown", "-R", f"{self.uid}:{self.gid}", str(path)], check=True)


def current_account() -> Account:
    """This process's own user (no switch)."""
    me = pwd.getpwuid(os.geteuid())
    return Account(me.pw_name, me.pw_uid, me.pw_gid, tuple(os.getgroups()), Path(me.pw_dir), False)


def runner_account() -> Account:
    """The account steps run as: the current user unless root, else `fyntrix-runner`."""
    if os.geteuid() != 0:
        return current_account()
    if shutil.which("sudo") is None:
        raise AccountError(
            "sudo is not installed, and GitHub's runner has it (the apt step runs `sudo`): "
            "run `make setup` (scripts/system-deps.sh installs it) or apt-get install -y sudo"
        )
    _ensure_user()
    entry = pwd.getpwnam(RUNNER_USER)
    groups = tuple(os.getgrouplist(RUNNER_USER, entry.pw_gid))
    return Account(RUNNER_USER, entry.pw_uid, entry.pw_gid, groups, Path(entry.pw_dir), True)


def add_to_group(account: Account, group: str) -> Account:
    """`account` (the tier's own, made as root) added to `group`, e.g. a Docker socket's."""
    subprocess.run(["usermod", "--append", "--groups", group, account.name], check=True)
    groups = tuple(os.getgrouplist(account.name, account.gid))
    return dataclasses.replace(account, groups=groups)


def _ensure_user() -> None:
    try:
        pwd.getpwnam(RUNNER_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--create-home", "--shell", "/bin/bash", "--user-group", RUNNER_USER],
            check=True,
        )
    try:
        docker = grp.getgrnam("docker")
        if RUNNER_USER not in docker.gr_mem:
            subprocess.run(["usermod", "--append", "--groups", "docker", RUNNER_USER], check=True)
    except KeyError:
        pass  # no Docker engine package here: the container tests say so themselves
    wanted = f"{RUNNER_USER} ALL=(ALL) NOPASSWD:ALL\n"
    if not SUDOERS_FILE.exists() or SUDOERS_FILE.read_text() != wanted:
        SUDOERS_FILE.parent.mkdir(parents=True, exist_ok=True)
        SUDOERS_FILE.write_text(wanted)
        SUDOERS_FILE.chmod(0o440)
