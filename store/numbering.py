"""Hands out case numbers: unique and consecutive per year, also with two daemons writing at once."""

from __future__ import annotations

from sqlalchemy import update
from sqlmodel import Session

from store.models import CaseCounter


def _insert_ignore(session: Session, year: int):
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(CaseCounter).values(year=year, seq=0).on_conflict_do_nothing(index_elements=["year"])


def next_seq(session: Session, year: int) -> int:
    """Increment the year's counter inside the caller's transaction and return the new value.

    The UPDATE takes the row's write lock until the transaction ends, so a second daemon waits and then
    sees the incremented value; a rolled-back transaction gives its number back, leaving no gap.
    """
    session.execute(_insert_ignore(session, year))
    stmt = (update(CaseCounter).where(CaseCounter.year == year)
            .values(seq=CaseCounter.seq + 1).returning(CaseCounter.seq))
    return session.execute(stmt).scalar_one()


def format_number(number_format: str, year: int, seq: int) -> str:
    return number_format.format(year=year, seq=seq)
