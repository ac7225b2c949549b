"""baseline: the schema as of the first Alembic version

Revision ID: 0001
Revises: (none)
Create Date: 2026-12-06 05:46:26.405417
"""
from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import core.storage.schema

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None

_IMPLICIT = sa.text("score_id IS NULL AND kind IN ('implicit_bought', 'weak_negative')")


def upgrade() -> None:
    op.create_table('cached_releases',
    sa.Column('release_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=False, nullable=False),
    sa.Column('data', sa.Text(), nullable=False),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('fetched_at', core.storage.schema.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('release_id')
    )
    op.create_table('chat_cards',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('platform', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('chat_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('message_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('user_name', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('score_id', sa.Integer(), nullable=True),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('why', sa.Text(), nullable=False),
    sa.Column('created_at', core.storage.schema.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('platform', 'chat_id', 'message_id', name='uq_chat_card_message')
    )
    with op.batch_alter_table('chat_cards', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_chat_cards_score_id'), ['score_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_chat_cards_user_name'), ['user_name'], unique=False)

    op.create_table('collection_staging',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('batch', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('release_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('list_name', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('date_added', sa.Date(), nullable=True),
    sa.Column('rating', sa.Integer(), nullable=True),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('price_paid', sa.Float(), nullable=True),
    sa.Column('currency', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('created_at', core.storage.schema.UTCDateTime(timezone=True), nullable=True),
    sa.Column('release_data', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('staged_at', core.storage.schema.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('collection_staging', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_collection_staging_batch'), ['batch'], unique=False)
        batch_op.create_index(batch_op.f('ix_collection_staging_user_id'), ['user_id'], unique=False)

    op.create_table('inbox_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('platform', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('event_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('payload_enc', sa.Text(), nullable=False),
    sa.Column('received_at', core.storage.schema.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('platform', 'event_id', name='uq_inbox_platform_event')
    )
    op.create_table('release_audio',
    sa.Column('release_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=False, nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('album_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('tracks', sa.Integer(), nullable=False),
    sa.Column('features', sa.Text(), nullable=False),
    sa.Column('vector', sa.Text(), nullable=False),
    sa.Column('track_refs', sa.Text(), nullable=False),
    sa.Column('note', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('checked_at', core.storage.schema.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('release_id')
    )
    op.create_table('users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('created_at', core.storage.schema.UTCDateTime(timezone=True), nullable=False),
    sa.Column('settings', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_users_name'), ['name'], unique=True)

    op.create_table('collection_entries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('release_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('list_name', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('date_added', sa.Date(), nullable=True),
    sa.Column('rating', sa.Integer(), nullable=True),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('price_paid', sa.Float(), nullable=True),
    sa.Column('currency', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('created_at', core.storage.schema.UTCDateTime(timezone=True), nullable=True),
    sa.Column('release_data', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('user_id', 'release_id', 'list_name', name='uq_entry_user_release_list')
    )
    with op.batch_alter_table('collection_entries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_collection_entries_release_id'), ['release_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_collection_entries_user_id'), ['user_id'], unique=False)

    op.create_table('linked_accounts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('discogs_username', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('auth_kind', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('token_enc', sa.Text(), nullable=True),
    sa.Column('oauth_token_enc', sa.Text(), nullable=True),
    sa.Column('oauth_secret_enc', sa.Text(), nullable=True),
    sa.Column('currency', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('linked_at', core.storage.schema.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_sync_at', core.storage.schema.UTCDateTime(timezone=True), nullable=True),
    sa.Column('sync_state', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('linked_accounts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_linked_accounts_user_id'), ['user_id'], unique=True)

    op.create_table('model_versions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('version', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('path', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('created_at', core.storage.schema.UTCDateTime(timezone=True), nullable=False),
    sa.Column('metrics', sa.Text(), nullable=False),
    sa.Column('n_positives', sa.Integer(), nullable=False),
    sa.Column('n_negatives', sa.Integer(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(), server_default='active', nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('was_active', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('model_versions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_model_versions_user_id'), ['user_id'], unique=False)

    op.create_table('scores_served',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('release_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('probability', sa.Float(), nullable=False),
    sa.Column('label', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('score_type', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('reasons', sa.Text(), nullable=False),
    sa.Column('model_version', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('created_at', core.storage.schema.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('scores_served', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_scores_served_release_id'), ['release_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_scores_served_user_id'), ['user_id'], unique=False)

    op.create_table('server_shares',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('platform', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('server_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('display_name', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('shared', sa.Boolean(), nullable=False),
    sa.Column('updated_at', core.storage.schema.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('platform', 'server_id', 'user_id', name='uq_share_server_user')
    )
    with op.batch_alter_table('server_shares', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_server_shares_server_id'), ['server_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_server_shares_user_id'), ['user_id'], unique=False)

    op.create_table('feedback',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('release_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('score_id', sa.Integer(), nullable=True),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('created_at', core.storage.schema.UTCDateTime(timezone=True), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(), server_default='chat', nullable=False),
    sa.Column('event_id', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('slot', sqlmodel.sql.sqltypes.AutoString(), server_default='vote', nullable=False),
    sa.Column('probability', sa.Float(), nullable=True),
    sa.Column('disagreement', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('updated_at', core.storage.schema.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['score_id'], ['scores_served.id'], ),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('feedback', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_feedback_release_id'), ['release_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_feedback_user_id'), ['user_id'], unique=False)
        batch_op.create_index('uq_feedback_user_event', ['user_id', 'event_id'], unique=True)
        batch_op.create_index('uq_feedback_user_release_implicit', ['user_id', 'release_id', 'slot'], unique=True,
                              sqlite_where=_IMPLICIT, postgresql_where=_IMPLICIT)
        batch_op.create_index('uq_feedback_user_score_slot', ['user_id', 'score_id', 'slot'], unique=True)



def downgrade() -> None:
    with op.batch_alter_table('feedback', schema=None) as batch_op:
        batch_op.drop_index('uq_feedback_user_score_slot')
        batch_op.drop_index('uq_feedback_user_release_implicit', sqlite_where=_IMPLICIT, postgresql_where=_IMPLICIT)
        batch_op.drop_index('uq_feedback_user_event')
        batch_op.drop_index(batch_op.f('ix_feedback_user_id'))
        batch_op.drop_index(batch_op.f('ix_feedback_release_id'))

    op.drop_table('feedback')
    with op.batch_alter_table('server_shares', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_server_shares_user_id'))
        batch_op.drop_index(batch_op.f('ix_server_shares_server_id'))

    op.drop_table('server_shares')
    with op.batch_alter_table('scores_served', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_scores_served_user_id'))
        batch_op.drop_index(batch_op.f('ix_scores_served_release_id'))

    op.drop_table('scores_served')
    with op.batch_alter_table('model_versions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_model_versions_user_id'))

    op.drop_table('model_versions')
    with op.batch_alter_table('linked_accounts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_linked_accounts_user_id'))

    op.drop_table('linked_accounts')
    with op.batch_alter_table('collection_entries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_collection_entries_user_id'))
        batch_op.drop_index(batch_op.f('ix_collection_entries_release_id'))

    op.drop_table('collection_entries')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_users_name'))

    op.drop_table('users')
    op.drop_table('release_audio')
    op.drop_table('inbox_events')
    with op.batch_alter_table('collection_staging', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_collection_staging_user_id'))
        batch_op.drop_index(batch_op.f('ix_collection_staging_batch'))

    op.drop_table('collection_staging')
    with op.batch_alter_table('chat_cards', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_chat_cards_user_name'))
        batch_op.drop_index(batch_op.f('ix_chat_cards_score_id'))

    op.drop_table('chat_cards')
    op.drop_table('cached_releases')
