"""Strategies: how a batch of hosts goes through a play (ansible-core's linear and free).

linear (Ansible's default): every host of the batch runs a task before any host starts the
next one; a task with any_errors_fatal (or run_once) that fails stops every host of the batch,
max_fail_percentage is checked after each task, run_once runs on the first host and gives its
result to all, `meta: end_play` is evaluated once, on the first host. Hosts still run their
part of a task in parallel (forks), and a host that reboots keeps reporting progress.
free: each host goes through the play on its own, as fast as it can.
"""

from __future__ import annotations

import dataclasses
import operator
import sys
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any

from .errors import HvprovError, InputError, InterruptedRun, TaskError, TransportError
from .hostiter import EndHost, EndPlay, ForcedFailure, HostWalker, Outcome, Step, Walk
from .hostvars import PlayContext
from .model import Status
from .poolmap import map_in_order
from .runctx import HostState
from .taskexec import TaskExecutor
from .tasktree import Task
from .templating import unsafe

_POS = operator.attrgetter("pos")  # a Step's place in the play
BREAK = "break"  # the play (and the playbook) stops: max_fail_percentage, or the whole batch failed
# modules that only compute on the controller (templating, conditions): no connection, no sleep
CONTROLLER_ONLY = frozenset({"debug", "set_fact", "assert", "fail", "meta"})


def _ramp(task: Task) -> float | None:
    """A round of a controller-only task starts one lane, the others once a host's task waits
    (poolmap.map_in_order's ramp: a lookup running a command, say) for a thread switch interval;
    a task that retries (a delay) or pauses between loop items starts all lanes at once."""
    if task.module in CONTROLLER_ONLY and task.until is None and task.retries is None and not task.loop_pause:
        return sys.getswitchinterval()
    return None


class BatchRun:
    """One batch of one play; `run()` returns BREAK when the playbook must stop."""

    def __init__(self, pctx: PlayContext, batch: list[HostState], executor: Executor, strategy: str) -> None:
        self.pctx = pctx
        self.ctx = pctx.ctx
        self.play = pctx.play
        self.batch = batch
        self.pool = executor
        self.strategy = strategy
        self.execs = {st.host.name: TaskExecutor(pctx, st) for st in batch}
        self.walkers: dict[str, HostWalker] = {}
        self.gens: dict[str, Walk] = {}
        self.pending: dict[str, Step] = {}
        self.end_play = False
        self.break_play = False
        self.fatal_marked: dict[str, str] = {}  # host -> why: failed by another host's fatal failure

    # -- one host, one call (on a worker thread) ---------------------------------
    def _guard(self, st: HostState, call: Callable[..., Outcome], *args: Any) -> Outcome:
        try:
            return call(*args)
        except InterruptedRun as exc:
            self.ctx.stop.set()
            waiting = "waiting" in exc.message  # e.g. for a reboot: a rerun resumes
            st.msg = "interrupted while waiting (a rerun resumes)" if waiting else "interrupted"
            return Outcome(Status.SKIPPED, meta="interrupted")
        except TransportError as exc:
            st.status, st.msg = Status.UNREACHABLE, self.ctx.secrets.scrub(exc.message)
            return Outcome(Status.UNREACHABLE, msg=st.msg)
        except InputError as exc:
            st.input_error = True
            return Outcome(Status.FAILED, msg=self.ctx.secrets.scrub(str(exc)))
        except (TaskError, HvprovError) as exc:
            return Outcome(Status.FAILED, msg=self.ctx.secrets.scrub(str(exc)))
        except Exception as exc:  # a bug must fail this host, not the run
            return Outcome(Status.FAILED, msg=f"internal error: {type(exc).__name__}: {self.ctx.secrets.scrub(str(exc))}")

    def _prepare(self, st: HostState) -> Outcome:
        def call() -> Outcome:
            self.execs[st.host.name].prepare()
            return Outcome(Status.OK)
        return self._guard(st, call)

    def _exec(self, st: HostState, step: Step) -> Outcome:
        return self._guard(st, self.execs[st.host.name].step, step.task, step.extra, step.handler)

    # -- walkers -----------------------------------------------------------------
    def _start(self, st: HostState) -> None:
        def set_failed(task: Task, out: Outcome) -> None:
            st.facts_vars["ansible_failed_task"] = unsafe({"name": task.name if task.named else "", "action": task.module, "path": task.path})
            st.facts_vars["ansible_failed_result"] = unsafe({**out.result, "failed": True, "msg": out.msg})

        walker = HostWalker(self.play, set_failed)
        self.walkers[st.host.name] = walker
        self.gens[st.host.name] = walker.run()
        self._advance(st, None)

    def _advance(self, st: HostState, out: Outcome | None, force: bool = False) -> None:
        name = st.host.name
        gen = self.gens[name]
        self.pending.pop(name, None)
        try:
            if force:
                self.pending[name] = gen.throw(ForcedFailure())
            else:
                self.pending[name] = next(gen) if out is None else gen.send(out)
            return
        except StopIteration as stop:
            ok = bool(stop.value)
        except ForcedFailure:
            ok = False
        except EndHost:
            ok = st.status is not Status.UNREACHABLE
        except EndPlay:
            ok, self.end_play = True, True
        if not ok and not st.down:
            failure = self.walkers[name].failure
            st.status = Status.FAILED
            st.msg = failure[1].msg if failure else "failed"

    # -- the batch -----------------------------------------------------------------
    def run(self) -> str | None:
        for st in self.batch:
            self.ctx.emit("host_started", st.host.name, play=self.play.name)
        live = []
        for st, out in zip(self.batch, self._map(self._prepare, self.batch)):
            if out.meta == "interrupted" or out.failed or out.status is Status.UNREACHABLE:
                if out.failed:
                    st.status, st.msg = Status.FAILED, out.msg
            else:
                live.append(st)
        if not self.ctx.stop.is_set():
            if self.strategy == "free":
                self._map(self._run_free, live)
            else:
                for st in live:
                    self._start(st)
                try:
                    verdict = self._run_linear()
                finally:
                    self.pctx.snapshot = None
                if verdict:
                    self._finish()
                    return verdict
        self._finish()
        failed = sum(1 for st in self.batch if st.down)
        return BREAK if self.batch and failed == len(self.batch) else None

    def _map(self, fn: Callable[[HostState], Any], states: list[HostState], ramp: float | None = None) -> list[Any]:
        if isinstance(self.pool, ThreadPoolExecutor):  # forks at a time, one pool job per worker
            return map_in_order(self.pool, fn, states, ramp)
        futures = [self.pool.submit(fn, st) for st in states]
        return [f.result() for f in futures]

    def _run_free(self, st: HostState) -> None:
        self._start(st)
        step = self.ctx.opts.step
        while st.host.name in self.pending and not self.ctx.stop.is_set() and not self.end_play:
            pending = self.pending[st.host.name]
            if step is not None and not step(pending.task, st.host.name, pending.handler):
                self._advance(st, Outcome(Status.OK))  # --step: skipped on this host, no result
                continue
            self._advance(st, self._exec(st, pending))

    def _run_linear(self) -> str | None:
        by_name = {st.host.name: st for st in self.batch}
        while self.pending and not self.ctx.stop.is_set():
            # ansible-core's lockstep: the step that comes first in the play runs on the hosts at
            # it; hosts further on wait (a host in a rescue catches up before the others go on)
            pending = self.pending
            earliest = min(map(_POS, pending.values()))
            order = [st for st in self.batch if (at := pending.get(st.host.name)) is not None and at.pos == earliest]
            first = order[0]
            task = self.pending[first.host.name].task
            once = task.run_once or (task.module == "meta" and task.args == "end_play")
            group = [st for st in order if self.pending[st.host.name].task is task] if once else []
            runners = [first] + [st for st in order if st not in group] if once else order
            self.pctx.freeze()
            step = self.ctx.opts.step
            if step is not None and not step(task, handler=self.pending[first.host.name].handler):
                outs = {st.host.name: Outcome(Status.OK) for st in runners}  # --step: skipped, no result
            else:
                outs = dict(zip((st.host.name for st in runners),
                                self._map(lambda st: self._exec(st, self.pending[st.host.name]), runners,
                                          _ramp(task))))
            if once:
                self._share(task, outs[first.host.name], group, outs)
            fatal = task.any_errors_fatal if task.any_errors_fatal is not None else self.play.any_errors_fatal
            mfp = self.play.max_fail_percentage
            # the hosts that failed this task: only what any_errors_fatal, run_once and max_fail_percentage read
            failed = [n for n, o in outs.items() if o.failed or o.status is Status.UNREACHABLE] if (
                fatal or task.run_once or mfp is not None) else []
            for name, out in outs.items():
                self._advance(by_name[name], out)
            if failed and (fatal or task.run_once) and not task.ignore_errors:
                self.ctx.emit("play_aborted", name=self.play.name, reason="any_errors_fatal")
                self._fail_others(failed, f"failed: {failed[0]} failed task {task.name!r} (any_errors_fatal)")
            down = sum(1 for st in self.batch if st.status is Status.FAILED) if mfp is not None else 0
            if mfp is not None and outs and not self.break_play and down * 100.0 / len(self.batch) > mfp:
                self.ctx.emit("play_aborted", name=self.play.name,
                              reason=f"{down} of {len(self.batch)} hosts failed, over max_fail_percentage {mfp:g}")
                self.break_play = True
                self._fail_others(failed, "failed: max_fail_percentage exceeded")
            if self.end_play:
                for name in list(self.pending):
                    self.gens[name].close()
                    del self.pending[name]
                break
        return BREAK if self.break_play else None

    def _fail_others(self, failed: list[str], reason: str) -> None:
        """any_errors_fatal, max_fail_percentage: every other host fails where it stands (its
        rescue, if any, runs); all count as failed for the rest of the playbook, as in ansible-core."""
        for st in self.batch:
            if st.host.name in failed or st.down:
                continue
            self.fatal_marked[st.host.name] = reason
            if st.host.name in self.pending:
                self._advance(st, None, force=True)
                if st.down:
                    st.msg = reason

    def _share(self, task: Task, out: Outcome, group: list[HostState], outs: dict[str, Outcome]) -> None:
        """run_once / end_play: the first host's outcome counts for every host at that task."""
        for st in group[1:]:
            if task.register:
                st.facts_vars[task.register] = unsafe(out.result)
            if out.set_vars:
                st.facts_vars.update(out.set_vars)
            outs[st.host.name] = dataclasses.replace(out, status=Status.SKIPPED if out.failed else out.status)

    def _finish(self) -> None:
        for name in list(self.pending):
            self.gens[name].close()
        self.pending.clear()
        for st in self.batch:
            if st.host.name in self.fatal_marked and not st.down:
                st.status, st.msg = Status.FAILED, self.fatal_marked[st.host.name]
            if st.status is not Status.UNREACHABLE:  # a dead host cannot release; a later run takes it over
                try:
                    st.session.release_lease()
                except Exception:  # noqa: BLE001 - best effort, never masks the host's result
                    pass
            if st.input_error:
                self.ctx.input_errors = True
            self.ctx.emit("host_done", st.host.name, status=st.status.value, msg=st.msg,
                          round_trips=st.session.round_trips)
