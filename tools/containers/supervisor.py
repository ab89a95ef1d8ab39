"""What the ECS agent does while a task runs: container restart policies and essential containers.

As the ECS developer guide and API reference describe them:

* a container whose definition enables a restart policy (`restartPolicy.enabled`, essential or
  not) is restarted in place when it exits: the same container, in the same task (network
  namespace, volumes, health check), unless its exit code is one of `ignoredExitCodes` or it
  ran less than `restartAttemptPeriod` seconds (300 when unset) since it last started: "a
  container can be restarted only once every restartAttemptPeriod seconds; if it isn't able to
  run for this time period and exits early, it will not be restarted";
* when an essential container exits and is not restarted, ECS stops every other container of
  the task (a container before those it depends on, each within its `stopTimeout`) and the
  task is STOPPED with the reason "Essential container in task exited";
* a non-essential container that exits without a restart just stays stopped.

`decide` is that rule for one exit; `TaskSupervisor` applies it to a running task, polling the
engine, in a thread (tests) or as the rehearsal's background process (`python -m
tools.containers supervise`), and records the task's status like the task metadata endpoint
(last status, stopped reason, each container's restart count and last exit code).
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import docker
from docker.errors import APIError, NotFound

from tools.containers.task import PAUSE, RunningTask, Stopped, stop_task

# ECS's default restartAttemptPeriod when a restart policy sets none, in seconds.
DEFAULT_RESTART_ATTEMPT_PERIOD_S = 300
ESSENTIAL_EXITED = "Essential container in task exited"
# How often the engine is asked about the task's containers, in seconds.
POLL_INTERVAL_S = 0.25
# In a run folder: the task `make up` started (task id, engine, definition), and its status.
TASK_STATE_FILE = "containers.json"
TASK_STATUS_FILE = "task-status.json"


@dataclass(frozen=True)
class Decision:
    restart: bool
    stops_task: bool
    why: str


def decide(cdef: Mapping[str, Any], exit_code: int, ran_s: float) -> Decision:
    """What ECS does when container `cdef` exits with `exit_code` after running `ran_s`."""
    policy = cdef.get("restartPolicy") or {}
    essential = bool(cdef.get("essential", True))
    consequence = "stops the task (essential)" if essential else "stays stopped (not essential)"
    if not policy.get("enabled"):
        return Decision(False, essential, f"no restart policy: {consequence}")
    if exit_code in set(policy.get("ignoredExitCodes") or ()):
        return Decision(False, essential, f"exit code {exit_code} is ignored: {consequence}")
    period_s = int(policy.get("restartAttemptPeriod") or DEFAULT_RESTART_ATTEMPT_PERIOD_S)
    if ran_s < period_s:
        return Decision(
            False,
            essential,
            f"ran {ran_s:.1f} s, less than its restartAttemptPeriod of {period_s} s: {consequence}",
        )
    return Decision(True, False, f"ran {ran_s:.1f} s (restartAttemptPeriod {period_s} s)")


def docker_time(value: str) -> datetime:
    """An engine timestamp (RFC 3339 with nanoseconds, `Z`) as an aware datetime."""
    head, _, rest = value.rstrip("Z").partition(".")
    micros = (rest + "000000")[:6]
    return datetime.fromisoformat(f"{head}.{micros}+00:00")


def ran_seconds(state: Mapping[str, Any]) -> float:
    """How long a stopped container ran since it last started."""
    return (docker_time(state["FinishedAt"]) - docker_time(state["StartedAt"])).total_seconds()


@dataclass
class ContainerStatus:
    restart_count: int = 0
    last_exit_code: int | None = None
    last_status: str = "RUNNING"


@dataclass
class TaskStatus:
    """What the task metadata endpoint reports, as far as restarts and stops go."""

    task_id: str
    last_status: str = "RUNNING"
    stopped_reason: str | None = None
    containers: dict[str, ContainerStatus] = field(default_factory=dict)

    def as_json(self) -> str:
        return json.dumps(asdict(self), indent=1, sort_keys=True)


class TaskSupervisor:
    """Applies `decide` to every container of `task` that exits, until the task stops."""

    def __init__(
        self,
        client: docker.DockerClient,
        task: RunningTask,
        *,
        say: Callable[[str], None] = print,
        status_file: Path | None = None,
    ) -> None:
        self.client = client
        self.task = task
        self.say = say
        self.status_file = status_file
        names = [n for n in task.containers if n != PAUSE]
        self.status = TaskStatus(
            task_id=task.spec.task_id, containers={n: ContainerStatus() for n in names}
        )
        self.stopped: list[Stopped] = []
        self._halt = threading.Event()
        self._thread: threading.Thread | None = None
        self._write()

    def poll(self) -> None:
        """Look at every container once; restart or stop the task as ECS would."""
        for name, status in self.status.containers.items():
            if self.status.last_status == "STOPPED" or status.last_status == "STOPPED":
                continue
            container = self.task.containers[name]
            container.reload()
            state = container.attrs["State"]
            if state["Status"] not in ("exited", "dead"):
                continue
            self._exited(name, int(state["ExitCode"]), ran_seconds(state))
        self._write()

    def _exited(self, name: str, exit_code: int, ran_s: float) -> None:
        status = self.status.containers[name]
        status.last_exit_code = exit_code
        decision = decide(self.task.spec.container(name), exit_code, ran_s)
        if decision.restart:
            status.restart_count += 1
            self.say(f"{name} exited (code {exit_code}), {decision.why}: restarted in place")
            self.task.containers[name].start()
            return
        status.last_status = "STOPPED"
        self.say(f"{name} exited (code {exit_code}), {decision.why}")
        if decision.stops_task:
            self.stop_task(ESSENTIAL_EXITED)

    def stop_task(self, reason: str) -> None:
        """Stop every container (reverse dependency order, each with its stopTimeout)."""
        self.stopped = stop_task(self.client, self.task)
        for stopped in self.stopped:
            container = self.status.containers[stopped.name]
            container.last_status = "STOPPED"
            container.last_exit_code = stopped.exit_code
        self.status.last_status = "STOPPED"
        self.status.stopped_reason = reason
        took = ", ".join(f"{s.name} exit {s.exit_code} in {s.took_s:.1f} s" for s in self.stopped)
        self.say(f"task STOPPED: {reason} ({took})")
        self._write()

    def run(self) -> TaskStatus:
        """Poll until `halt()` or the task stops."""
        while not self._halt.is_set() and self.status.last_status != "STOPPED":
            try:
                self.poll()
            except NotFound:
                # Removed under us (`make down`, a test's cleanup): nothing left to watch.
                break
            except APIError as exc:
                self.say(f"the engine refused a request ({exc.explanation}); retrying")
            self._halt.wait(POLL_INTERVAL_S)
        return self.status

    def start(self) -> TaskSupervisor:
        self._thread = threading.Thread(target=self.run, name="task-supervisor", daemon=True)
        self._thread.start()
        return self

    def halt_soon(self) -> None:
        """Stop watching after the current poll (safe from a signal handler)."""
        self._halt.set()

    def halt(self) -> None:
        """Stop watching (before a deliberate stop of the task: nothing is restarted then)."""
        self._halt.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def wait_for(self, predicate: Callable[[TaskStatus], bool], timeout_s: float) -> TaskStatus:
        deadline = time.monotonic() + timeout_s
        while not predicate(self.status):
            if time.monotonic() > deadline:
                raise TimeoutError(f"task status after {timeout_s:.0f} s: {self.status}")
            time.sleep(0.05)
        return self.status

    def _write(self) -> None:
        if self.status_file is not None:
            with contextlib.suppress(OSError):
                temporary = self.status_file.with_suffix(".tmp")
                temporary.write_text(self.status.as_json())
                temporary.replace(self.status_file)
