"""docs/scoring.md describes the shipped files: every item (with its exact wording) and scale."""

from __future__ import annotations

from pathlib import Path

import pytest

from assessments import builtin_instruments

DOC = (Path(__file__).parents[2] / "docs" / "scoring.md").read_text()


@pytest.mark.parametrize("instrument", builtin_instruments(), ids=lambda i: i.slug)
def test_every_item_and_scale_is_documented(instrument):
    assert f"`{instrument.slug}` {instrument.version}" in DOC
    assert instrument.canonical in DOC
    for item in instrument.definition.walk():
        if item.is_question:
            assert f"| `{item.link_id}` | {item.text} |" in DOC, item.link_id
    for scale in instrument.scoring.scales:
        assert f"| `{scale.code}`" in DOC, scale.code
        for band in scale.bands:
            assert f"`{band.code}`" in DOC, (scale.code, band.code)
