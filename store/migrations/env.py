"""Alembic environment: migrations run on the connection the product hands over (SQLite or PostgreSQL)."""

from alembic import context
from sqlmodel import SQLModel

from store import models  # noqa: F401  (registers the tables)

target_metadata = SQLModel.metadata


def run_migrations_online() -> None:
    connection = context.config.attributes["connection"]
    context.configure(connection=connection, target_metadata=target_metadata,
                      render_as_batch=connection.dialect.name == "sqlite")  # SQLite alters tables by copying
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
