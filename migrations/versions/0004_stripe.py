"""coin packs, payments, Stripe webhook events; topup rows name their payment

Revision ID: 0004
Revises: 0002
Create Date: 2026-12-02 04:34:28.267130

"""
from alembic import op
import sqlalchemy as sa



# revision identifiers, used by Alembic.
revision = '0004'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('coin_packs',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('coins', sa.BigInteger(), nullable=False),
    sa.Column('price_minor', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('coins > 0', name=op.f('ck_coin_packs_coin_pack_coins_positive')),
    sa.CheckConstraint('price_minor > 0', name=op.f('ck_coin_packs_coin_pack_price_positive')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_coin_packs'))
    )
    op.create_table('payments',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('pack_id', sa.Uuid(), nullable=True),
    sa.Column('coins', sa.BigInteger(), nullable=False),
    sa.Column('amount_minor', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('status', sa.String(length=24), nullable=False),
    sa.Column('provider_session_id', sa.String(length=255), nullable=True),
    sa.Column('payment_intent', sa.String(length=255), nullable=True),
    sa.Column('checkout_url', sa.Text(), nullable=True),
    sa.Column('amount_refunded_minor', sa.BigInteger(), nullable=False),
    sa.Column('coins_reversed', sa.BigInteger(), nullable=False),
    sa.Column('coins_unrecovered', sa.BigInteger(), nullable=False),
    sa.Column('coins_written_off', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('flag', sa.String(length=500), nullable=True),
    sa.Column('error', sa.String(length=500), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('paid_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('settled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('settled_by_id', sa.Uuid(), nullable=True),
    sa.CheckConstraint('coins_reversed >= 0', name=op.f('ck_payments_payment_reversed_not_negative')),
    sa.CheckConstraint('coins_unrecovered >= 0', name=op.f('ck_payments_payment_unrecovered_not_negative')),
    sa.ForeignKeyConstraint(['pack_id'], ['coin_packs.id'], name=op.f('fk_payments_pack_id_coin_packs'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['settled_by_id'], ['users.id'], name=op.f('fk_payments_settled_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_payments_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payments')),
    sa.UniqueConstraint('provider_session_id', name=op.f('uq_payments_provider_session_id'))
    )
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.create_index('ix_payments_payment_intent', ['payment_intent'], unique=False)
        batch_op.create_index('ix_payments_status_created', ['status', 'created_at'], unique=False)
        batch_op.create_index('ix_payments_user_created', ['user_id', 'created_at'], unique=False)

    op.create_table('stripe_events',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('event_id', sa.String(length=255), nullable=False),
    sa.Column('type', sa.String(length=100), nullable=False),
    sa.Column('outcome', sa.String(length=64), nullable=False),
    sa.Column('detail', sa.String(length=500), nullable=False),
    sa.Column('payment_id', sa.Uuid(), nullable=True),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['payment_id'], ['payments.id'], name=op.f('fk_stripe_events_payment_id_payments'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stripe_events')),
    sa.UniqueConstraint('event_id', name=op.f('uq_stripe_events_event_id'))
    )
    with op.batch_alter_table('stripe_events', schema=None) as batch_op:
        batch_op.create_index('ix_stripe_events_payment_id', ['payment_id'], unique=False)
        batch_op.create_index('ix_stripe_events_received_at', ['received_at'], unique=False)

    with op.batch_alter_table('coin_transactions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('payment_id', sa.Uuid(), nullable=True))
        batch_op.create_index('uq_coin_transactions_topup_per_payment', ['payment_id'], unique=True, postgresql_where=sa.text("kind = 'topup'"), sqlite_where=sa.text("kind = 'topup'"))
        batch_op.create_foreign_key(batch_op.f('fk_coin_transactions_payment_id_payments'), 'payments', ['payment_id'], ['id'], ondelete='SET NULL')

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('coins_unrecovered', sa.BigInteger(), server_default='0', nullable=False))



def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('coins_unrecovered')

    with op.batch_alter_table('coin_transactions', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_coin_transactions_payment_id_payments'), type_='foreignkey')
        batch_op.drop_index('uq_coin_transactions_topup_per_payment', postgresql_where=sa.text("kind = 'topup'"), sqlite_where=sa.text("kind = 'topup'"))
        batch_op.drop_column('payment_id')

    with op.batch_alter_table('stripe_events', schema=None) as batch_op:
        batch_op.drop_index('ix_stripe_events_received_at')
        batch_op.drop_index('ix_stripe_events_payment_id')

    op.drop_table('stripe_events')
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.drop_index('ix_payments_user_created')
        batch_op.drop_index('ix_payments_status_created')
        batch_op.drop_index('ix_payments_payment_intent')

    op.drop_table('payments')
    op.drop_table('coin_packs')
