"""The committed generated code matches protos/, and every proto field is documented."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_generated_code_matches_protos() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_protos.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_every_field_and_message_has_a_comment() -> None:
    declaration = re.compile(r"^\s*(message|enum|service|rpc|oneof|[\w.<>, ]+\s+\w+\s*=\s*\d+;)")
    missing = []
    for proto in sorted((ROOT / "protos").rglob("*.proto")):
        lines = proto.read_text().splitlines()
        for n, line in enumerate(lines):
            stripped = line.strip()
            if stripped.startswith(("syntax", "package", "import", "//", "option")) or not stripped:
                continue
            if stripped == "}" or not declaration.match(line):
                continue
            if not lines[n - 1].strip().startswith("//"):
                missing.append(f"{proto.relative_to(ROOT)}:{n + 1}: {stripped}")
    assert not missing, "undocumented declarations:\n" + "\n".join(missing)
