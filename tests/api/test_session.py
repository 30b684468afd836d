"""The request session's finishing step (commit or rollback) never waits for shared threads."""

from __future__ import annotations

import threading

import anyio
import anyio.to_thread

from api.persistence.session import _in_own_thread


def test_finishing_runs_while_every_shared_worker_thread_is_blocked():
    # A handler blocked on a row lock holds a shared worker thread. If the transaction
    # holding that lock had to wait for a shared thread to commit, nothing would move:
    # with the shared limit at 1 and that one thread blocked, finishing must still run.
    released = threading.Event()
    finished = []

    async def scenario() -> None:
        anyio.to_thread.current_default_thread_limiter().total_tokens = 1
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(anyio.to_thread.run_sync, released.wait)
            await anyio.sleep(0.1)  # the only shared thread is now blocked
            try:
                with anyio.fail_after(5):
                    await _in_own_thread(finished.append, "committed")
            finally:
                released.set()

    anyio.run(scenario)
    assert finished == ["committed"]
