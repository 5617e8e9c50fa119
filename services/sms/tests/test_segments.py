"""The sms service counts parts by the shared vectors (the desktop's counter runs the same file)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from omnihub.sms.segments import sms_length

VECTORS = json.loads((Path(__file__).resolve().parents[3] / "tests" / "vectors" / "sms_segments.json").read_text())


@pytest.mark.parametrize("case", VECTORS["cases"], ids=[c["name"] for c in VECTORS["cases"]])
def test_sms_length_matches_the_shared_vectors(case: dict[str, Any]) -> None:
    text = "".join(piece * times for piece, times in case["parts"])
    got = sms_length(text)
    assert (got.encoding, got.units, got.segments) == (case["encoding"], case["units"], case["segments"])
