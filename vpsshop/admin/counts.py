"""The admin lists' row counts: exact up to a bound, the planner's estimate beyond it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, literal_column, select
from sqlalchemy.orm import Query

# Counting every row of a ten-million-row table for the pager took longer than the page
# itself (bench: big tables). Up to this many matching rows the count is exact (20 pages).
EXACT_UP_TO = 1_000


def planner_rows(query: Query) -> int:
    """PostgreSQL's estimate of the rows ``query`` returns (EXPLAIN, nothing run)."""
    compiled = query.statement.compile(dialect=query.session.get_bind().dialect)
    plan = (
        query.session.connection()
        .exec_driver_sql("EXPLAIN (FORMAT JSON) " + compiled.string, compiled.params)
        .scalar_one()
    )
    return int(plan[0]["Plan"]["Plan Rows"])


class EstimatedCountQuery(Query):
    """Flask-Admin's count query (``get_count_query``; filters and search are added to it
    as to any query) whose ``scalar()`` counts at most ``EXACT_UP_TO + 1`` rows; past
    that the pager shows PostgreSQL's estimate, never less than what was counted.
    Other databases count exactly."""

    def scalar(self) -> Any:
        if self.session.get_bind().dialect.name != "postgresql":
            return super().scalar()
        rows = self.with_entities(literal_column("1"))
        capped = rows.limit(EXACT_UP_TO + 1).subquery()
        counted = self.session.execute(select(func.count()).select_from(capped)).scalar_one()
        if counted <= EXACT_UP_TO:
            return counted
        return max(counted, planner_rows(rows))
