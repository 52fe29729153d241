"""index vps_sessions by (created_at, id) for the newest-first lists

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 21:30:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    # The admin sessions list sorts every session newest first and shows 50: without
    # this index PostgreSQL sorts the whole table on each page view (bench/RESULTS.md).
    with op.batch_alter_table('vps_sessions', schema=None) as batch_op:
        batch_op.create_index('ix_vps_sessions_created_id', ['created_at', 'id'], unique=False)


def downgrade():
    with op.batch_alter_table('vps_sessions', schema=None) as batch_op:
        batch_op.drop_index('ix_vps_sessions_created_id')
