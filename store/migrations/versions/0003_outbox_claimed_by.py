"""Outbox: who holds the sending claim, so a restarted daemon can release the claims of a dead one.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03 19:49:11.436864
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('outboxmail', schema=None) as batch_op:
        batch_op.add_column(sa.Column('claimed_by', sqlmodel.sql.sqltypes.AutoString(), nullable=False,
                                      server_default=''))



def downgrade() -> None:
    with op.batch_alter_table('outboxmail', schema=None) as batch_op:
        batch_op.drop_column('claimed_by')

