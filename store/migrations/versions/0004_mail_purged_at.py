"""Inbound mail: when retention deleted the content of a mail that never joined a case.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04 17:55:00
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('inboundmail', schema=None) as batch_op:
        batch_op.add_column(sa.Column('purged_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('inboundmail', schema=None) as batch_op:
        batch_op.drop_column('purged_at')
