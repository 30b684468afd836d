"""The request session: its finishing step never waits for shared threads, and writers
take turns."""

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


def test_writers_take_turns_up_to_the_configured_concurrency():
    """On PostgreSQL `write_concurrency` writers run at once and the next waits its turn;
    on SQLite one; reads never wait."""
    from types import SimpleNamespace

    from api.persistence.session import taking_turns
    from api.settings import Settings

    def request(method: str, state: SimpleNamespace) -> SimpleNamespace:
        return SimpleNamespace(method=method, app=SimpleNamespace(state=state))

    async def most_at_once(settings: Settings, method: str, writers: int) -> int:
        state = SimpleNamespace(settings=settings)
        inside, most = 0, 0

        async def writer() -> None:
            nonlocal inside, most
            async with taking_turns(request(method, state)):
                inside += 1
                most = max(most, inside)
                await anyio.sleep(0.01)
                inside -= 1

        async with anyio.create_task_group() as group:
            for _ in range(writers):
                group.start_soon(writer)
        return most

    postgres = Settings(database_url="postgresql+psycopg://h/db", write_concurrency=3)
    sqlite = Settings(database_url="sqlite:///x.db", write_concurrency=3)
    assert anyio.run(most_at_once, postgres, "POST", 10) == 3
    assert anyio.run(most_at_once, sqlite, "POST", 10) == 1
    assert anyio.run(most_at_once, sqlite, "GET", 10) == 10
