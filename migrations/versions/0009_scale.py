"""indexes for the admin lists' sorts and filters and a user's own ledger by id

Revision ID: 0009
Revises: 0004
Create Date: 2026-12-02 05:00:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0009'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    # At ten million ledger rows and a million sessions every filter the admin lists offer
    # needs an index that also gives its newest-first order (bench: big tables).
    with op.batch_alter_table('coin_transactions', schema=None) as batch_op:
        batch_op.create_index('ix_coin_transactions_created_id', ['created_at', 'id'], unique=False)
        batch_op.create_index('ix_coin_transactions_kind_created', ['kind', 'created_at', 'id'], unique=False)
        batch_op.create_index('ix_coin_transactions_user_id_id', ['user_id', 'id'], unique=False)
    with op.batch_alter_table('vps_sessions', schema=None) as batch_op:
        batch_op.create_index('ix_vps_sessions_status_created', ['status', 'created_at', 'id'], unique=False)
        batch_op.create_index('ix_vps_sessions_worker_created', ['worker_id', 'created_at', 'id'], unique=False)
        batch_op.create_index('ix_vps_sessions_product_created', ['product_id', 'created_at', 'id'], unique=False)
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.create_index('ix_users_created_at', ['created_at'], unique=False)
        batch_op.create_index('ix_users_admin_created', ['is_admin', 'created_at'], unique=False)
    with op.batch_alter_table('audit_entries', schema=None) as batch_op:
        batch_op.create_index('ix_audit_entries_created_id', ['created_at', 'id'], unique=False)
        batch_op.create_index('ix_audit_entries_target_created', ['target_type', 'created_at', 'id'], unique=False)
        batch_op.create_index('ix_audit_entries_target_id', ['target_id', 'created_at'], unique=False)
        batch_op.create_index('ix_audit_entries_actor_created', ['actor_id', 'created_at'], unique=False)


def downgrade():
    with op.batch_alter_table('coin_transactions', schema=None) as batch_op:
        batch_op.drop_index('ix_coin_transactions_created_id')
        batch_op.drop_index('ix_coin_transactions_kind_created')
        batch_op.drop_index('ix_coin_transactions_user_id_id')
    with op.batch_alter_table('vps_sessions', schema=None) as batch_op:
        batch_op.drop_index('ix_vps_sessions_status_created')
        batch_op.drop_index('ix_vps_sessions_worker_created')
        batch_op.drop_index('ix_vps_sessions_product_created')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_index('ix_users_created_at')
        batch_op.drop_index('ix_users_admin_created')
    with op.batch_alter_table('audit_entries', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_entries_created_id')
        batch_op.drop_index('ix_audit_entries_target_created')
        batch_op.drop_index('ix_audit_entries_target_id')
        batch_op.drop_index('ix_audit_entries_actor_created')
