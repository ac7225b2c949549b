"""leases: one leader among the bot processes; the scheduler's job table made here, not by each process

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06 05:47:16.975064
"""
from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import core.storage.schema

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('leases',
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('holder', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('acquired_at', core.storage.schema.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', core.storage.schema.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )
    # APScheduler's SQLAlchemyJobStore table (its own layout, apscheduler 3.x): made here so that bot processes
    # starting together do not race to create it; a database where a scheduler already made it keeps it
    if "apscheduler_jobs" not in sa.inspect(op.get_bind()).get_table_names():
        op.create_table('apscheduler_jobs',
                        sa.Column('id', sa.Unicode(191), primary_key=True),
                        sa.Column('next_run_time', sa.Float(25), index=True),
                        sa.Column('job_state', sa.LargeBinary(), nullable=False))


def downgrade() -> None:
    op.drop_table('leases')   # the job table stays: it holds the schedule
