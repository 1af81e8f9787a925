"""Connecting to Ray: a cluster by address, or a private local instance that runs our code.

Shared by the Ray generation executor and distributed evaluation (both run an `ActorPool`).
Ray is an optional extra.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ttm_bench.errors import TTMBenchError


def ray_module() -> Any:
    """Import ray, or say how to install it."""
    try:
        import ray
    except ModuleNotFoundError as exc:
        raise TTMBenchError("--executor ray needs Ray: pip install 'ttm-bench[ray]'") from exc
    return ray


def _code_paths() -> list[str]:
    """Directories from which this process imported `ttm_bench` and the model packages."""
    roots = {Path(sys.modules[name].__file__).resolve().parent.parent
             for name in ("ttm_bench", "baselines", "reference_impl")
             if getattr(sys.modules.get(name), "__file__", None)}
    return sorted(str(r) for r in roots)


def connect(address: str | None, num_cpus: int | None = None) -> None:
    """Join the cluster at `address` ("auto": the one `ray start` made on this machine), or
    start a private local instance when `address` is None."""
    ray = ray_module()
    if ray.is_initialized():
        return
    if address:
        ray.init(address=address, log_to_driver=True)
        return
    # A local instance runs this process's code in its workers, whatever is installed.
    python_path = os.pathsep.join([*_code_paths(), os.environ.get("PYTHONPATH", "")])
    ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=True,
             runtime_env={"env_vars": {"PYTHONPATH": python_path.rstrip(os.pathsep)}})


@dataclass
class Completion:
    """One finished work item: its result, or how its actor was lost ("died", "timed out")."""

    item: Any
    attempt: int
    result: Any = None
    lost: str | None = None


@dataclass
class _Task:
    actor: Any
    item: Any
    attempt: int
    deadline: float


class ActorPool:
    """A pool of actors that each `load()` once, then serve `call(actor, item, attempt)`.

    It starts with one actor, whose `load()` result is `load_result` (e.g. the batch size the
    model prefers), and `grow`s to the size the work needs.
    An actor that dies, or exceeds `timeout_of(item)` seconds on an item, is killed and
    replaced; the caller gets a `Completion` with `lost` set and decides whether to `submit`
    the item again. The first actor loads before the others start, so a load error (missing
    weights) raises here once, as the original error, instead of once per actor.
    """

    def __init__(self, ray: Any, actor_cls: Any, args: tuple[Any, ...],
                 call: Callable[[Any, Any, int], Any],
                 timeout_of: Callable[[Any], float | None] = lambda item: None):
        self.ray, self.actor_cls, self.args = ray, actor_cls, args
        self.call, self.timeout_of = call, timeout_of
        first = actor_cls.remote(*args)
        try:
            self.load_result = ray.get(first.load.remote())
        except ray.exceptions.RayActorError as exc:
            raise TTMBenchError(f"a Ray worker died while loading: {exc}") from exc
        except ray.exceptions.RayTaskError as exc:
            if isinstance(exc.cause, TTMBenchError):  # e.g. missing weights: say it plainly
                raise exc.cause from None
            raise
        self.pool = [first]
        self.idle = [first]
        self.loading: dict[Any, Any] = {}
        self.queue: deque[tuple[Any, int]] = deque()
        self.running: dict[Any, _Task] = {}
        self.lost = 0

    def grow(self, size: int) -> None:
        """Start actors until the pool has `size` (they load in the background)."""
        for _ in range(size - len(self.pool)):
            self._add_actor()

    def _add_actor(self) -> None:
        actor = self.actor_cls.remote(*self.args)
        self.pool.append(actor)
        self.loading[actor.load.remote()] = actor

    def submit(self, item: Any, attempt: int = 1) -> None:
        self.queue.append((item, attempt))

    def _dispatch(self) -> None:
        while self.idle and self.queue:
            actor, (item, attempt) = self.idle.pop(), self.queue.popleft()
            limit = self.timeout_of(item)
            deadline = time.monotonic() + limit if limit is not None else math.inf
            self.running[self.call(actor, item, attempt)] = _Task(actor, item, attempt, deadline)

    def _lose(self, task: _Task, how: str) -> Completion:
        self.lost += 1
        self.ray.kill(task.actor, no_restart=True)
        self._add_actor()
        return Completion(task.item, task.attempt, lost=how)

    def completions(self) -> Iterator[Completion]:
        """Completions as they happen, until nothing is queued or running."""
        ray = self.ray
        while self.queue or self.running:
            self._dispatch()
            nearest = min((t.deadline for t in self.running.values()), default=math.inf)
            wait_s = None if nearest == math.inf else max(0.0, nearest - time.monotonic())
            done, _ = ray.wait([*self.running, *self.loading], num_returns=1, timeout=wait_s)
            if not done:  # a deadline passed: that worker hangs
                now = time.monotonic()
                for ref in [r for r, t in self.running.items() if t.deadline <= now]:
                    yield self._lose(self.running.pop(ref), "timed out")
                continue
            (ref,) = done
            if ref in self.loading:
                actor = self.loading.pop(ref)
                try:
                    ray.get(ref)
                    self.idle.append(actor)
                except ray.exceptions.RayError:
                    self.lost += 1  # a replica that cannot start: the pool shrinks
                    if not (self.idle or self.running or self.loading):
                        raise
                continue
            task = self.running.pop(ref)
            try:
                result = ray.get(ref)
            except ray.exceptions.RayActorError:
                yield self._lose(task, "died")
                continue
            self.idle.append(task.actor)
            yield Completion(task.item, task.attempt, result=result)

    def close(self) -> None:
        for actor in self.pool:
            self.ray.kill(actor, no_restart=True)
