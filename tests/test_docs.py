"""README's and docs/studies.md's measured orders name their study and tier and agree with the
stored baselines (``tests/baselines``), so a figure quoted in the docs is a figure fplab produces."""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: the docs quote orders to 3 decimals
ROUNDING = 5e-4 + 1e-12


def baseline_orders(study: str) -> dict[str, float]:
    data = json.loads((ROOT / "tests" / "baselines" / f"{study}.json").read_text())
    return data["orders"]


def test_readme_orders_name_their_study_and_match_the_baselines():
    text = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    quoted = re.findall(r"\(`([a-z0-9-]+)`, quick tier\): ([^()]+)", text)
    assert {s for s, _ in quoted} >= {"mc-strong-gbm", "mc-strong-double-well", "mc-weak-ou"}
    n = 0
    for study, figures in quoted:
        orders = baseline_orders(study)
        for name, value in re.findall(r"([a-z][a-z0-9-]*) (\d+\.\d{3})\b", figures):
            assert abs(float(value) - orders[name]) <= ROUNDING, (study, name, value)
            n += 1
    assert n >= 9


def test_docs_table_orders_match_the_baselines():
    text = (ROOT / "docs" / "studies.md").read_text(encoding="utf-8")
    rows = [r for r in text.splitlines() if r.startswith("| ") and " [" in r]
    n = 0
    for row in rows:
        study = row.split("|")[1].strip()
        if not (ROOT / "tests" / "baselines" / f"{study}.json").is_file():
            continue
        orders = baseline_orders(study)
        for name, value in re.findall(r"([a-z][a-z0-9-]*) (-?\d+\.\d{3}) \[", row):
            if name in orders:
                assert abs(float(value) - orders[name]) <= ROUNDING, (study, name, value)
                n += 1
    assert n >= 20  # every shipped convergence study's claimed orders
