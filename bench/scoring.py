"""How fast the clinical core validates and scores, and what storing a scored response costs.

    python bench/scoring.py [--rounds N] [--calls N] [--postgres URL]

Prints per-response times (median of rounds) and the ratios between steps.
The storage step uses a fresh SQLite file, or with --postgres a new schema in
that PostgreSQL database, dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))

from api.persistence import ClinicSession, make_engine
from api.persistence.connection import ConnectionBinds, PostgresPools, clinic_connection
from api.services.clinics import create_clinic
from api.services.instruments import InstrumentKey, resolve_instrument
from api.services.maintenance import prepare_database
from api.services.responses import record_response
from assessments import calculate_sdc, load_builtin, score_response, validate_response
from schemas import Client
from tests.assessments.builders import (
    STATEMENTS,
    balance_response,
    checkin_response,
)
from tests.assessments.test_sdc_scoring import FIXTURES as LFORMS
from tests.assessments.test_sdc_scoring import phq9_response
from tests.databases import fresh_database


def per_call(label: str, action: Callable[[], object], calls: int, rounds: int) -> float:
    """Median seconds per call over `rounds` rounds of `calls` calls."""
    timings = []
    for round_number in range(1, rounds + 1):
        started = time.perf_counter()
        for _ in range(calls):
            action()
        timings.append((time.perf_counter() - started) / calls)
        print(f"  {label}: round {round_number}/{rounds}", end="\r", file=sys.stderr)
    print(" " * 60, end="\r", file=sys.stderr)
    return statistics.median(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--postgres", help="postgresql+psycopg://... to measure storage there")
    arguments = parser.parse_args()

    balance, check_in = load_builtin("balance-assessment"), load_builtin("weekly-check-in")
    balance_answers = balance_response(
        {link_id: 1 + n % 5 for n, link_id in enumerate(STATEMENTS)}, gap_now=3, gap_wanted=6
    )
    check_in_answers = checkin_response(balance_rating=6, need="more evenings out", safety=False)

    results: dict[str, float] = {}
    for name, instrument, response in (
        ("balance (25 items)", balance, balance_answers),
        ("check-in (10 items)", check_in, check_in_answers),
    ):
        results[f"validate {name}"] = per_call(
            name, lambda i=instrument, r=response: validate_response(i.definition, r),
            arguments.calls, arguments.rounds,
        )  # fmt: skip
        results[f"validate + score {name}"] = per_call(
            name, lambda i=instrument, r=response: score_response(i, r),
            arguments.calls, arguments.rounds,
        )  # fmt: skip

    # imported instruments whose Questionnaire calculates its own total (SDC, FHIRPath)
    for name, fixture in (
        ("PHQ-9, variable form", "phq9.json"),
        ("PHQ-9, weight() form", "phq9-with-the-weight-function.json"),
    ):
        phq9 = json.loads((LFORMS / fixture).read_text())
        answers = phq9_response([1, 2, 0, 3, 1, 1, 0, 2, 1])
        calculate_sdc(phq9, answers)  # its expressions parsed, as after a process's first
        results[f"calculate {name}"] = per_call(
            name, lambda q=phq9, r=answers: calculate_sdc(q, r),
            max(arguments.calls // 25, 5), arguments.rounds,
        )  # fmt: skip

    with (
        tempfile.TemporaryDirectory() as directory,
        fresh_database(Path(directory), arguments.postgres) as url,
    ):
        engine = make_engine(url)
        prepare_database(engine)
        with ClinicSession(engine, expire_on_commit=False) as session:
            clinic = create_clinic(session, "Bench Clinic")
            client = Client()
            session.add(client)
            instrument = InstrumentKey.of(resolve_instrument(session, "balance-assessment"))
            session.commit()
        # as a request records it: one transaction on a clinic connection, committed
        pools = None if url.startswith("sqlite") else PostgresPools(url)
        bind = ConnectionBinds.of(engine, pools).write
        loop = asyncio.new_event_loop()
        if pools is not None:
            loop.run_until_complete(pools.open())

        async def record_one() -> None:
            async with clinic_connection(bind) as connection:
                connection.scope_to(clinic.id)
                await record_response(
                    connection,
                    client_id=client.id,
                    instrument=instrument,
                    questionnaire_response=balance_answers,
                )

        calls = max(arguments.calls // 5, 20)
        results[f"record + commit balance ({engine.dialect.name})"] = per_call(
            "store", lambda: loop.run_until_complete(record_one()), calls, arguments.rounds
        )
        if pools is not None:
            loop.run_until_complete(pools.close())
        loop.close()
        engine.dispose()

    print(f"{'step':<48} {'per response':>14} {'per second':>12}")
    for label, seconds in results.items():
        print(f"{label:<48} {seconds * 1e6:>11.0f} us {1 / seconds:>12.0f}")
    score_b = results["validate + score balance (25 items)"]
    validate_b = results["validate balance (25 items)"]
    stored = next(v for k, v in results.items() if k.startswith("record"))
    print()
    print(f"scoring adds {score_b / validate_b:.2f}x the cost of validation alone (balance)")
    print(f"storing costs {stored / score_b:.1f}x validating and scoring (balance)")


if __name__ == "__main__":
    main()
