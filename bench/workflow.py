"""The practice workflow under load: Tandem against a floor and a peer, SQLite and PostgreSQL.

    python bench/workflow.py [--seconds 15] [--connections 32] [--postgres URL] [--only sqlite]

Needs `wrk` (Debian: apt-get install wrk). For each database it creates a
clinic with 1,000 clients in 500 couples, balance assessments to submit and
submitted ones to read, starts `tandem serve` (one worker) and measures, for
`--seconds` at `--connections` connections each:

  (a) submit-and-score of a completed balance assessment through the portal API
  (b) GET /v1/responses/{id}
  (c) GET /v1/assignments?updated_since=...&limit=50 pages
  (d) the floor: a bare ASGI app returning fixed JSON, served by the same uvicorn,
      and FastAPI's own floors, no database: an async endpoint with one dependency,
      and the same served by Tandem's DirectRoute (as Tandem's hot routes are)
  (e) the peer (bench/peer.py): FastAPI + fhir.resources + SQLModel, submit and read

Each load is measured after a warm-up of its own (WARM_UP_SECONDS). It prints
requests/s, p50 and p99 for each, and (a)-(c) as ratios of (d) and (e); then
where the machine's CPU went while each load ran, per request: the server's
process, PostgreSQL's processes, wrk, and everything else (from /proc). The
server has one worker: its requests run on one thread, an event loop, so about
one core (its other threads, SQLite's checkpoints, add a little); PostgreSQL
and wrk share the other with whatever else the machine runs. The window
counted is wrk's whole run, its start and exit included, divided by the
seconds wrk measured: a little more than the load's own share.
PostgreSQL runs use a schema of their own in the given database, dropped after.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.error import URLError

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import text  # noqa: E402

from api.persistence import ClinicSession, make_engine  # noqa: E402
from api.persistence.connection import ClinicConnection  # noqa: E402
from api.services.assignments import stamp_changes  # noqa: E402
from api.services.clinics import open_clinic  # noqa: E402
from api.services.instruments import resolve_instrument  # noqa: E402
from api.services.maintenance import prepare_database  # noqa: E402
from api.services.portal import submit  # noqa: E402
from api.services.portal_links import PortalVisitor, issue_link  # noqa: E402
from schemas import Assignment, Client, ClientIdentifier, Couple, CoupleMember  # noqa: E402
from tests.assessments.builders import STATEMENTS, balance_response  # noqa: E402
from tests.databases import fresh_database, run_on_connection  # noqa: E402

LUA = Path(__file__).with_name("wrk")


def say(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


@dataclass
class Cpu:
    """CPU seconds the machine spent while a load ran: in the server's process, in
    PostgreSQL's processes, in wrk, in all (every core's busy time, /proc/stat)."""

    server: float
    postgres: float
    wrk: float
    machine: float

    @property
    def rest(self) -> float:
        return max(0.0, self.machine - self.server - self.postgres - self.wrk)


@dataclass
class Result:
    label: str
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    requests: int
    failures: int
    seconds: float = 0.0
    cpu: Cpu | None = None


_TICKS = os.sysconf("SC_CLK_TCK")


def _process_seconds(pid: int) -> float:
    """CPU seconds (user and system) a process has used, or 0 once it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = text[text.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def postgres_processes() -> dict[int, float]:
    """CPU seconds each of PostgreSQL's running processes (server, backends, writers) has
    used, by pid."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().startswith("postgres"):
                    found[int(entry.name)] = _process_seconds(int(entry.name))
            except OSError:
                continue
    return found


def postgres_spent(before: dict[int, float]) -> float:
    """CPU seconds PostgreSQL's processes spent since `before` (`postgres_processes()`):
    each running process's seconds less what it had then, all of them for one started
    since. One that exited meanwhile is not counted (its seconds land in the rest of the
    machine's): autovacuum's workers, and the backends of connections a pool closes (not
    Tandem's: it keeps its own open). Every PostgreSQL process on the machine counts:
    nothing else may use the server while a benchmark runs."""
    return sum(
        seconds - before.get(pid, 0.0)
        for pid, seconds in postgres_processes().items()
        if seconds >= before.get(pid, 0.0)  # a pid used again by a new process: left out
    )


def _machine_seconds() -> float:
    """Busy CPU seconds of all cores together: user, nice, system, irq and softirq time."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq = (int(f) for f in fields[:7])
    return (user + nice + system + irq + softirq) / _TICKS


class _Counting:
    """The CPU seconds spent from entering to leaving: by `pid` (the server), by
    PostgreSQL, by the children this process waited for meanwhile (wrk), by all."""

    def __init__(self, pid: int | None) -> None:
        self._pid = pid

    def _now(self) -> tuple[float, float, float]:
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        server = _process_seconds(self._pid) if self._pid is not None else 0.0
        return server, children.ru_utime + children.ru_stime, _machine_seconds()

    def __enter__(self) -> _Counting:
        self._postgres = postgres_processes()
        self._began = self._now()
        return self

    def __exit__(self, *_: object) -> None:
        server, wrk, machine = (
            after - before for before, after in zip(self._began, self._now(), strict=True)
        )
        self.cpu = Cpu(server, postgres_spent(self._postgres), wrk, machine)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def server(command: list[str], env: dict[str, str], cwd: Path, health: str):
    log = open(cwd / f"server-{time.monotonic_ns()}.log", "w")  # noqa: SIM115
    process = subprocess.Popen(command, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(health, timeout=2)
                break
            except (URLError, ConnectionError):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"server did not start: {' '.join(command)}") from None
                time.sleep(0.2)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            say("server slow to stop after SIGTERM; killing it")
            process.kill()
            process.wait()
        log.close()


def uvicorn(app: str, port: int, factory: bool = False) -> list[str]:
    command = [sys.executable, "-m", "uvicorn", app, "--port", str(port), "--workers", "1"]
    command += ["--loop", "asyncio"]  # as tandem serve runs
    return (
        command + ["--no-access-log", "--log-level", "warning"] + (["--factory"] if factory else [])
    )


def environment_without(*prefixes: str) -> dict[str, str]:
    """This process's environment without the variables named with `prefixes`: a server
    started for a load gets its settings from the bench alone."""
    return {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}


def tandem_serve(port: int) -> list[str]:
    return [sys.executable, "-m", "api.cli", "serve", "--port", str(port)]


WARM_UP_SECONDS = 3


def wrk(
    label: str,
    url: str,
    script: str,
    args: list[str],
    seconds: int,
    connections: int,
    warm_up_args: list[str] | None = None,
    serving: subprocess.Popen | None = None,
) -> Result:
    """Measure one load for `seconds`, after a warm-up of WARM_UP_SECONDS at the same
    concurrency (first requests compile statements and fill caches; they are not
    what a running server does). `warm_up_args` replace `args` for the warm-up when
    the load uses data up (submissions). The CPU the machine spends during the
    measured run is counted, the server's own for the process `serving`."""
    env = dict(os.environ) | {"TANDEM_WRK_LUA": str(LUA)}

    def run(duration: int, arguments: list[str]) -> str:
        command = [
            "wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--timeout", "10s",
            "-s", str(LUA / script), url, "--", *arguments,
        ]  # fmt: skip
        return subprocess.run(command, capture_output=True, text=True, check=True, env=env).stdout

    say(f"{label}: warm-up {WARM_UP_SECONDS} s, then {connections} connections for {seconds} s")
    run(WARM_UP_SECONDS, warm_up_args or args)
    with _Counting(serving.pid if serving is not None else None) as counted:
        output = run(seconds, args)
    summary = json.loads(output.strip().splitlines()[-1])
    say(f"  {summary}")
    return Result(
        label=label,
        requests_per_second=summary["requests"] / summary["seconds"],
        p50_ms=summary["p50_us"] / 1000,
        p99_ms=summary["p99_us"] / 1000,
        requests=summary["requests"],
        failures=summary["non_2xx"] + summary["errors"],
        seconds=summary["seconds"],
        cpu=counted.cpu,
    )


def submit_load(
    label: str,
    base: str,
    work: Path,
    seconds: int,
    connections: int,
    serving: subprocess.Popen | None = None,
) -> Result:
    """Portal submissions of the assignments `prepare_tandem` left in `work` (the warm-up
    submits its own)."""
    body = str(work / "balance.json")
    return wrk(label, base, "submit.lua", [str(work / "submits.txt"), body], seconds,
               connections, warm_up_args=[str(work / "warm.txt"), body],
               serving=serving)  # fmt: skip


def post_to_peer(base: str, body: Path) -> None:
    """One submission to the peer (bench/peer.py)."""
    request = urllib.request.Request(
        f"{base}/peer/responses",
        data=body.read_bytes(),
        headers={"Content-Type": "application/json"},
    )
    urllib.request.urlopen(request, timeout=10).read()


def peer_submit_load(
    label: str,
    base: str,
    body: Path,
    seconds: int,
    connections: int,
    serving: subprocess.Popen | None = None,
) -> Result:
    return wrk(
        label, base, "post.lua", ["/peer/responses", str(body)], seconds, connections,
        serving=serving,
    )  # fmt: skip


def prepare_tandem(url: str, work: Path, submits: int, reads: int) -> dict[str, Any]:
    """A clinic with 1,000 clients in 500 couples; assignments to submit; responses to read."""
    engine = make_engine(url)
    prepare_database(engine)
    completed = balance_response({lid: 1 + n % 5 for n, lid in enumerate(STATEMENTS)}, 3, 6)
    with ClinicSession(engine, expire_on_commit=False) as session:
        clinic, integration, secret = open_clinic(session, "Bench Clinic")
        balance = resolve_instrument(session, "balance-assessment")
        clients = []
        for number in range(1000):
            client = Client(name=None)
            session.add(client)
            session.add(
                ClientIdentifier(
                    client_id=client.id, system="https://pm.example", value=f"B-{number}"
                )
            )
            clients.append(client)
        couples = []
        for first, second in zip(clients[::2], clients[1::2], strict=True):
            couple = Couple()
            session.add(couple)
            session.add_all(
                [
                    CoupleMember(couple_id=couple.id, client_id=first.id, position=1),
                    CoupleMember(couple_id=couple.id, client_id=second.id, position=2),
                ]
            )
            couples.append((couple, first, second))
        session.commit()
        say("clinic, 1,000 clients and 500 couples made")

        made: list[tuple[Assignment, str]] = []
        for index in range(submits + reads):
            couple, first, second = couples[index // 2 % len(couples)]
            member = first if index % 2 == 0 else second
            assignment = Assignment(
                client_id=member.id, couple_id=couple.id, instrument_id=balance.id
            )
            session.add(assignment)
            made.append((assignment, issue_link(session, assignment, 14)[0]))
            if len(made) % 2000 == 0:
                stamp_changes(session, [a for a, _ in made[-2000:]])
                session.commit()
                say(f"{len(made)} of {submits + reads} assignments made")
        tail = len(made) % 2000
        if tail:
            stamp_changes(session, [a for a, _ in made[-tail:]])
        session.commit()
        to_read = made[submits:]

        async def submit_all(connection: ClinicConnection) -> list[str]:
            submitted = []
            for assignment, _ in to_read:
                visitor = PortalVisitor(clinic_id=clinic.id, client_id=assignment.client_id)
                done = await submit(connection, visitor, assignment.id, completed)
                submitted.append(str(done.response_id))
            return submitted

        response_ids = run_on_connection(url, clinic.id, submit_all)
        say(f"{len(response_ids)} responses submitted for reading")
        stamps = sorted(
            a.updated_at.isoformat() for a, _ in made[: submits : max(1, submits // 200)]
        )
    if engine.dialect.name == "postgresql":
        # Statistics for the tables just loaded, as a database in service has them;
        # without them the planner guesses until autovacuum's ANALYZE comes round, which
        # could happen in the middle of a measurement (pages ran at 140/s or 497/s).
        with engine.connect() as connection:
            connection.execute(text("ANALYZE"))
            connection.commit()
    engine.dispose()

    warm = submits // 5  # the last fifth is for warming up
    (work / "submits.txt").write_text(
        "".join(f"{a.id} {token}\n" for a, token in made[: submits - warm])
    )
    (work / "warm.txt").write_text(
        "".join(f"{a.id} {token}\n" for a, token in made[submits - warm : submits])
    )
    (work / "responses.txt").write_text("".join(f"{rid}\n" for rid in response_ids))
    (work / "since.txt").write_text("".join(f"{s}\n" for s in stamps))
    (work / "balance.json").write_text(json.dumps(completed))
    return {"client_id": integration.client_id, "client_secret": secret}


def access_token(base: str, credentials: dict[str, str]) -> str:
    request = urllib.request.Request(
        f"{base}/oauth/token",
        data=b"grant_type=client_credentials",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    import base64

    basic = base64.b64encode(
        f"{credentials['client_id']}:{credentials['client_secret']}".encode()
    ).decode()
    request.add_header("Authorization", f"Basic {basic}")
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read())["access_token"]


def measure_database(
    kind: str, postgres: str | None, arguments: argparse.Namespace
) -> list[Result]:
    results = []
    expected = int((arguments.seconds + WARM_UP_SECONDS) * 2500)  # more than a worker makes
    with (
        tempfile.TemporaryDirectory() as directory,
        fresh_database(Path(directory), postgres if kind == "postgresql" else None) as url,
    ):
        work = Path(directory)
        credentials = prepare_tandem(url, work, submits=expected, reads=1000)
        env = environment_without("TANDEM_")
        env |= {"TANDEM_DATABASE_URL": url, "TANDEM_AUTO_MIGRATE": "false"}
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        tandem = server(tandem_serve(port), env | {"PYTHONPATH": str(ROOT)}, work, f"{base}/health")
        with tandem as serving:
            token = access_token(base, credentials)
            results.append(
                submit_load(f"(a) submit and score, {kind}", base, work,
                            arguments.seconds, arguments.connections, serving)
            )  # fmt: skip
            results.append(
                wrk(f"(b) read a response, {kind}", base, "read.lua",
                    [str(work / "responses.txt"), token, "/v1/responses/"],
                    arguments.seconds, arguments.connections, serving=serving)
            )  # fmt: skip
            results.append(
                wrk(f"(c) assignment pages, {kind}", base, "pages.lua",
                    [str(work / "since.txt"), token], arguments.seconds, arguments.connections,
                    serving=serving)
            )  # fmt: skip

        peer_url = url if kind == "postgresql" else f"sqlite:///{work}/peer.db"
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        peer_env = env | {"PEER_DATABASE_URL": peer_url, "PYTHONPATH": str(ROOT / "bench")}
        with server(uvicorn("peer:app", port), peer_env, work, f"{base}/docs") as serving:
            for _ in range(1000):  # rows for the peer to read
                post_to_peer(base, work / "balance.json")
            (work / "peer_ids.txt").write_text("".join(f"{n}\n" for n in range(1, 1001)))
            results.append(
                peer_submit_load(f"(e) peer submit, {kind}", base, work / "balance.json",
                                 arguments.seconds, arguments.connections, serving)
            )  # fmt: skip
            results.append(
                wrk(f"(e) peer read, {kind}", base, "read.lua",
                    [str(work / "peer_ids.txt"), "", "/peer/responses/"],
                    arguments.seconds, arguments.connections, serving=serving)
            )  # fmt: skip
    return results


def measure_floor(arguments: argparse.Namespace) -> list[Result]:
    results = []
    env = dict(os.environ) | {"PYTHONPATH": f"{ROOT / 'bench'}{os.pathsep}{ROOT}"}
    floors = (
        ("(d) floor: bare ASGI", "floor:app"),
        ("(d) FastAPI async + dependency", "floor:framework_app"),
        ("(d) FastAPI, Tandem's DirectRoute", "floor:direct_app"),
    )
    for label, app in floors:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        with (
            tempfile.TemporaryDirectory() as directory,
            server(uvicorn(app, port), env, Path(directory), base) as serving,
        ):
            results.append(
                wrk(label, base, "get.lua", [], arguments.seconds, arguments.connections,
                    serving=serving)
            )  # fmt: skip
    return results


def report(results: list[Result]) -> None:
    print(
        f"\n{'measure':<36} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'requests':>9} {'failed':>7}"
    )
    for r in results:
        print(
            f"{r.label:<36} {r.requests_per_second:>9.0f} {r.p50_ms:>8.1f} {r.p99_ms:>8.1f} "
            f"{r.requests:>9} {r.failures:>7}"
        )
    by_label = {r.label: r for r in results}
    floor = next(r for r in results if r.label.startswith("(d) floor"))
    print()
    for kind in ("sqlite", "postgresql"):
        peer_submit = by_label.get(f"(e) peer submit, {kind}")
        peer_read = by_label.get(f"(e) peer read, {kind}")
        for code, peer in (("a", peer_submit), ("b", peer_read), ("c", peer_read)):
            mine = next(
                (r for r in results if r.label.startswith(f"({code})") and kind in r.label), None
            )
            if mine is None or peer is None:
                continue
            of_floor = mine.requests_per_second / floor.requests_per_second
            of_peer = mine.requests_per_second / peer.requests_per_second
            print(f"{mine.label:<36} {of_floor:>6.3f} of the floor   {of_peer:>6.1f}x the peer")
    report_cpu(results)


def report_cpu(results: list[Result]) -> None:
    """Where the CPU went while each load ran: milliseconds per request and cores busy
    (CPU seconds a second of the load) for the server, PostgreSQL, wrk and the rest."""
    counted = [r for r in results if r.cpu is not None and r.requests and r.seconds]
    if not counted:
        return
    groups = ("server", "postgres", "wrk", "rest", "machine")
    tables = (
        ("CPU per request, ms", lambda r: 1000 / r.requests, "9.3f"),
        ("cores busy", lambda r: 1 / r.seconds, "9.2f"),
    )
    for title, scale, shape in tables:
        print(f"\n{title:<36}" + "".join(f"{g:>9}" for g in groups[:-1]) + "      all")
        for r in counted:
            spent = [getattr(r.cpu, g) * scale(r) for g in groups]
            print(f"{r.label:<36}" + "".join(f"{s:{shape}}" for s in spent))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    arguments = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("bench/workflow.py needs wrk: apt-get install wrk")
    results = measure_floor(arguments)
    for kind in ("sqlite", "postgresql"):
        if arguments.only in (None, kind):
            results += measure_database(kind, arguments.postgres, arguments)
    report(results)


if __name__ == "__main__":
    main()
