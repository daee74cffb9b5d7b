"""The base every scenario model shares, and the error a cross-field check raises."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

NAME_PATTERN = r"^[A-Za-z0-9_.-]+$"


class FrozenModel(BaseModel):
    """Unknown keys are errors, values never change after loading, NaN and inf are refused."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class FieldIssues(ValueError):
    """One or more problems, each tied to a dotted path relative to the model that raised it.

    Pydantic reports a model validator's error at the model's location; the loader appends
    these paths so that the message names the exact field (``markets.TSLA.M.margin.long_maint``).
    """

    def __init__(self, issues: list[tuple[str, str]]):
        self.issues = issues
        super().__init__("; ".join(f"{p}: {m}" if p else m for p, m in issues))


def check_issues(issues: list[tuple[str, str]]) -> None:
    if issues:
        raise FieldIssues(issues)
