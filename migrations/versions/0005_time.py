"""a session's time: product extension fields, session extensions, the waitlist

Revision ID: 0005
Revises: 0003
Create Date: 2026-12-02 04:25:19.771631

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0005'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('waitlist_entries',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('product_id', sa.Uuid(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.String(length=300), nullable=True),
    sa.Column('session_id', sa.Uuid(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['product_id'], ['vps_products.id'], name=op.f('fk_waitlist_entries_product_id_vps_products'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['session_id'], ['vps_sessions.id'], name=op.f('fk_waitlist_entries_session_id_vps_sessions'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_waitlist_entries_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_waitlist_entries'))
    )
    with op.batch_alter_table('waitlist_entries', schema=None) as batch_op:
        batch_op.create_index('ix_waitlist_entries_product_status', ['product_id', 'status', 'created_at'], unique=False)
        batch_op.create_index('ix_waitlist_entries_user_created', ['user_id', 'created_at'], unique=False)
        batch_op.create_index('uq_waitlist_entries_waiting', ['user_id', 'product_id'], unique=True, postgresql_where=sa.text("status = 'waiting'"), sqlite_where=sa.text("status = 'waiting'"))

    op.create_table('session_extensions',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('session_id', sa.Uuid(), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('idempotency_key', sa.String(length=200), nullable=True),
    sa.Column('minutes', sa.Integer(), nullable=False),
    sa.Column('price_coins', sa.Integer(), nullable=False),
    sa.Column('transaction_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('expires_before', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_after', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['session_id'], ['vps_sessions.id'], name=op.f('fk_session_extensions_session_id_vps_sessions'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['transaction_id'], ['coin_transactions.id'], name=op.f('fk_session_extensions_transaction_id_coin_transactions'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_session_extensions_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_session_extensions')),
    sa.UniqueConstraint('transaction_id', name=op.f('uq_session_extensions_transaction_id')),
    sa.UniqueConstraint('user_id', 'idempotency_key', name='uq_session_extensions_user_idem')
    )
    with op.batch_alter_table('session_extensions', schema=None) as batch_op:
        batch_op.create_index('ix_session_extensions_session', ['session_id'], unique=False)

    with op.batch_alter_table('vps_products', schema=None) as batch_op:
        batch_op.add_column(sa.Column('extend_minutes', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('extend_price_coins', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('max_total_minutes', sa.Integer(), nullable=True))
        batch_op.create_check_constraint(
            op.f('ck_vps_products_extend_positive'), 'extend_minutes IS NULL OR extend_minutes > 0'
        )
        batch_op.create_check_constraint(
            op.f('ck_vps_products_extend_price_positive'),
            'extend_price_coins IS NULL OR extend_price_coins > 0',
        )
        batch_op.create_check_constraint(
            op.f('ck_vps_products_max_total_positive'),
            'max_total_minutes IS NULL OR max_total_minutes > 0',
        )



def downgrade():
    with op.batch_alter_table('vps_products', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_vps_products_max_total_positive'), type_='check')
        batch_op.drop_constraint(op.f('ck_vps_products_extend_price_positive'), type_='check')
        batch_op.drop_constraint(op.f('ck_vps_products_extend_positive'), type_='check')
        batch_op.drop_column('max_total_minutes')
        batch_op.drop_column('extend_price_coins')
        batch_op.drop_column('extend_minutes')

    with op.batch_alter_table('session_extensions', schema=None) as batch_op:
        batch_op.drop_index('ix_session_extensions_session')

    op.drop_table('session_extensions')
    with op.batch_alter_table('waitlist_entries', schema=None) as batch_op:
        batch_op.drop_index('uq_waitlist_entries_waiting', postgresql_where=sa.text("status = 'waiting'"), sqlite_where=sa.text("status = 'waiting'"))
        batch_op.drop_index('ix_waitlist_entries_user_created')
        batch_op.drop_index('ix_waitlist_entries_product_status')

    op.drop_table('waitlist_entries')
