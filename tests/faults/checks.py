"""What every fault scenario asserts, and how a failed one explains itself (its processes' log tails)."""

from __future__ import annotations

from faults.runner import Result
from faults.scenarios import SCENARIOS

LOG_TAIL = 4000


def assert_nothing_lost(result: Result) -> None:
    """Every acknowledged message stored exactly once, within a minute of the fault's end."""
    assert not result.error and result.sent > 0, _explain(result)
    assert (result.lost, result.duplicated) == (0, 0), _explain(result)
    assert result.recover_s is not None, _explain(result)


def _explain(result: Result) -> str:
    tails = []
    for path in result.logs:
        text = path.read_text(errors="replace") if path.exists() else "(no log)"
        tails.append(f"--- {path.name} (last {LOG_TAIL} characters) ---\n{text[-LOG_TAIL:]}")
    return "\n".join([result.describe(), *tails])


def brokers_of(name: str) -> list:
    """The brokers the suite runs a scenario on, as pytest parameters."""
    scenario = SCENARIOS[name]
    return list(scenario.suite_brokers or scenario.brokers)
