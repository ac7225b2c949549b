"""watches: records collectors watch on the marketplace, the release's price history, the alerts sent

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06 10:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import core.storage.schema

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('watches',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('release_id', core.storage.schema.RELEASE_ID, nullable=False),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('max_price', sa.Float(), nullable=True),
    sa.Column('currency', sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
    sa.Column('added_at', core.storage.schema.UTCDateTime(timezone=True), nullable=False),
    sa.Column('checked_at', core.storage.schema.UTCDateTime(timezone=True), nullable=True),
    sa.Column('lowest_price', sa.Float(), nullable=True),
    sa.Column('num_for_sale', sa.Integer(), nullable=True),
    sa.Column('blocked', sa.Boolean(), nullable=False),
    sa.Column('gone', sa.Boolean(), nullable=False),
    sa.Column('alerted_price', sa.Float(), nullable=True),
    sa.Column('alerted_at', core.storage.schema.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('user_id', 'release_id', name='uq_watch_user_release')
    )
    op.create_index(op.f('ix_watches_user_id'), 'watches', ['user_id'], unique=False)
    op.create_index(op.f('ix_watches_release_id'), 'watches', ['release_id'], unique=False)
    op.create_table('price_history',
    sa.Column('release_id', core.storage.schema.RELEASE_ID, autoincrement=False, nullable=False),
    sa.Column('currency', sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
    sa.Column('first_price', sa.Float(), nullable=True),
    sa.Column('first_at', core.storage.schema.UTCDateTime(timezone=True), nullable=False),
    sa.Column('lowest_price', sa.Float(), nullable=True),
    sa.Column('lowest_at', core.storage.schema.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_price', sa.Float(), nullable=True),
    sa.Column('last_at', core.storage.schema.UTCDateTime(timezone=True), nullable=False),
    sa.Column('checks', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('release_id', 'currency')
    )
    op.create_table('watch_alerts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('release_id', core.storage.schema.RELEASE_ID, nullable=False),
    sa.Column('price', sa.Float(), nullable=True),
    sa.Column('currency', sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('sent_at', core.storage.schema.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_watch_alerts_user_id'), 'watch_alerts', ['user_id'], unique=False)
    op.create_index(op.f('ix_watch_alerts_sent_at'), 'watch_alerts', ['sent_at'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_watch_alerts_sent_at'), table_name='watch_alerts')
    op.drop_index(op.f('ix_watch_alerts_user_id'), table_name='watch_alerts')
    op.drop_table('watch_alerts')
    op.drop_table('price_history')
    op.drop_index(op.f('ix_watches_release_id'), table_name='watches')
    op.drop_index(op.f('ix_watches_user_id'), table_name='watches')
    op.drop_table('watches')
