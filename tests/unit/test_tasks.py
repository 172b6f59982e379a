"""TaskOwner: what it owns ends with it, within its bound; a fire-and-forget failure is logged only."""

from __future__ import annotations

import asyncio
import gc
import logging
import time
import warnings

import pytest

from hyperhome.tasks import TaskOwner, first_error

BOUND_S = 0.5


async def test_a_task_running_at_exit_is_cancelled_and_awaited_within_the_bound() -> None:
    owner = TaskOwner("test")
    await owner.open()
    cleaned = asyncio.Event()
    started = asyncio.Event()

    async def forever() -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        finally:
            cleaned.set()

    task = owner.spawn(forever(), name="forever")
    assert task is not None
    async with asyncio.timeout(BOUND_S):
        await started.wait()
    t0 = time.monotonic()
    await owner.aclose(timeout_s=BOUND_S)
    assert time.monotonic() - t0 < BOUND_S
    assert task.cancelled()
    assert cleaned.is_set()
    assert not owner.tasks


async def test_the_grace_lets_tasks_end_on_their_own_then_cancels_the_rest() -> None:
    owner = TaskOwner("test")
    await owner.open()
    quick_done = asyncio.Event()

    async def quick() -> None:
        await asyncio.sleep(0)
        quick_done.set()

    quick_task = owner.spawn(quick())
    slow_task = owner.spawn(asyncio.Event().wait())
    assert quick_task is not None
    assert slow_task is not None
    await owner.aclose(grace_s=0.05, timeout_s=BOUND_S)
    assert quick_done.is_set()
    assert not quick_task.cancelled()
    assert slow_task.cancelled()


async def test_a_task_swallowing_cancellation_does_not_stretch_the_bound(caplog: pytest.LogCaptureFixture) -> None:
    owner = TaskOwner("test")
    await owner.open()
    release = asyncio.Event()

    async def stubborn() -> None:
        while not release.is_set():
            try:
                await release.wait()
            except asyncio.CancelledError:
                continue  # a bug in the task: the owner must still return on time

    task = owner.spawn(stubborn(), name="stubborn")
    assert task is not None
    await asyncio.sleep(0)
    t0 = time.monotonic()
    await owner.aclose(timeout_s=0.05)
    assert time.monotonic() - t0 < BOUND_S
    assert "ignored cancellation" in caplog.text
    assert "stubborn" in caplog.text
    release.set()
    async with asyncio.timeout(BOUND_S):
        await task


async def test_a_failing_task_is_logged_and_its_siblings_go_on(caplog: pytest.LogCaptureFixture) -> None:
    owner = TaskOwner("kitchen-ac")
    await owner.open()
    sibling_done = asyncio.Event()
    go_on = asyncio.Event()

    async def fails() -> None:
        msg = "compressor on fire"
        raise RuntimeError(msg)

    async def sibling() -> None:
        await go_on.wait()
        sibling_done.set()

    with caplog.at_level(logging.ERROR):
        failing = owner.spawn(fails(), failure="background task failed")
        other = owner.spawn(sibling())
        assert failing is not None
        assert other is not None
        async with asyncio.timeout(BOUND_S):
            await failing
        assert not other.done()
        assert owner.is_open
        later = owner.spawn(asyncio.sleep(0))  # the owner still takes work
        assert later is not None
        go_on.set()
        async with asyncio.timeout(BOUND_S):
            await sibling_done.wait()
    assert "kitchen-ac: background task failed" in caplog.text
    assert "compressor on fire" in caplog.text
    await owner.aclose()


async def test_no_task_outlives_its_owner() -> None:
    before = asyncio.all_tasks()
    owner = TaskOwner("test")
    await owner.open()
    for _ in range(5):
        owner.spawn(asyncio.Event().wait())
    owner.spawn(asyncio.sleep(0))
    await owner.aclose(timeout_s=BOUND_S)
    assert asyncio.all_tasks() == before


async def test_nothing_starts_once_the_owner_is_closing() -> None:
    owner = TaskOwner("test")
    await owner.open()
    late: list[asyncio.Task[None] | None] = []

    async def spawns_while_cancelled() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            late.append(owner.spawn(asyncio.Event().wait()))

    owner.spawn(spawns_while_cancelled())
    await asyncio.sleep(0)
    before_close = asyncio.all_tasks()
    await owner.aclose(timeout_s=BOUND_S)
    assert late == [None]
    assert asyncio.all_tasks() < before_close
    assert owner.spawn(asyncio.sleep(0)) is None  # closed: the coroutine is dropped, not warned about


async def test_an_owner_opens_again_after_it_closed() -> None:
    owner = TaskOwner("test")
    await owner.open()
    await owner.aclose()
    await owner.open()
    task = owner.spawn(asyncio.sleep(0))
    assert task is not None
    async with asyncio.timeout(BOUND_S):
        await task
    await owner.aclose()


async def test_a_task_cancelled_before_its_first_step_leaves_no_unawaited_coroutine() -> None:
    owner = TaskOwner("test")
    await owner.open()
    owner.spawn(asyncio.sleep(0))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        await owner.aclose()  # cancels it before it ran
        gc.collect()
    assert not [w for w in caught if "never awaited" in str(w.message)]


def test_first_error_unwraps_nested_groups() -> None:
    error = ValueError("the first")
    group = BaseExceptionGroup("outer", [ExceptionGroup("inner", [error]), KeyError("second")])
    assert first_error(group) is error
