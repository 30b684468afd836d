"""Row ids: time-ordered (RFC 9562 version 7) yet unguessable."""

from __future__ import annotations

import itertools
import time
import uuid

from schemas.base import new_id


def test_ids_are_version_7_uuids_of_the_rfc_9562_variant():
    made = [new_id() for _ in range(1000)]
    assert {i.version for i in made} == {7}
    assert {i.variant for i in made} == {uuid.RFC_4122}
    assert len(set(made)) == 1000


def test_an_id_begins_with_the_millisecond_it_was_made():
    before = time.time_ns() // 1_000_000
    made = new_id()
    after = time.time_ns() // 1_000_000
    assert before <= made.int >> 80 <= after


def test_ids_made_later_sort_later_but_ids_of_one_millisecond_do_not_follow_each_other():
    first = new_id()
    time.sleep(0.002)
    second = new_id()
    assert first < second and str(first) < str(second)  # the text sorts as the number does
    # Within one millisecond only the random bits differ: no counter to step through.
    same_ms: dict[int, list[uuid.UUID]] = {}
    for made in (new_id() for _ in range(2000)):
        same_ms.setdefault(made.int >> 80, []).append(made)
    crowded = max(same_ms.values(), key=len)
    assert len(crowded) >= 2
    steps = {b.int - a.int for a, b in itertools.pairwise(crowded)}
    assert len(steps) == len(crowded) - 1  # every gap differs: nothing sequential


def test_the_74_random_bits_vary():
    random_parts = [
        ((i.int >> 64) & 0xFFF, i.int & ((1 << 62) - 1)) for i in (new_id() for _ in range(200))
    ]
    a_bits = {a for a, _ in random_parts}
    b_bits = {b for _, b in random_parts}
    assert len(a_bits) > 150 and len(b_bits) == 200  # 12 and 62 random bits
