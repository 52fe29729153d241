"""vouchers and their redemptions

Revision ID: 0003
Revises: 0007
Create Date: 2026-12-02 04:23:27.201013

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0003'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('vouchers',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('coins', sa.BigInteger(), nullable=False),
    sa.Column('max_redemptions', sa.Integer(), nullable=False),
    sa.Column('redemptions', sa.Integer(), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('note', sa.String(length=500), nullable=False),
    sa.Column('batch_id', sa.Uuid(), nullable=False),
    sa.Column('created_by_id', sa.Uuid(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('deactivated_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint('coins > 0', name=op.f('ck_vouchers_coins_positive')),
    sa.CheckConstraint('max_redemptions >= 1', name=op.f('ck_vouchers_max_redemptions_positive')),
    sa.CheckConstraint('redemptions >= 0 AND redemptions <= max_redemptions', name=op.f('ck_vouchers_redemptions_in_range')),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_vouchers_created_by_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_vouchers')),
    sa.UniqueConstraint('code', name=op.f('uq_vouchers_code'))
    )
    with op.batch_alter_table('vouchers', schema=None) as batch_op:
        batch_op.create_index('ix_vouchers_batch_id', ['batch_id'], unique=False)
        batch_op.create_index('ix_vouchers_created_at', ['created_at'], unique=False)

    op.create_table('voucher_redemptions',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('voucher_id', sa.Uuid(), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('transaction_id', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['transaction_id'], ['coin_transactions.id'], name=op.f('fk_voucher_redemptions_transaction_id_coin_transactions'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_voucher_redemptions_user_id_users'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['voucher_id'], ['vouchers.id'], name=op.f('fk_voucher_redemptions_voucher_id_vouchers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_voucher_redemptions')),
    sa.UniqueConstraint('transaction_id', name=op.f('uq_voucher_redemptions_transaction_id')),
    sa.UniqueConstraint('voucher_id', 'user_id', name='uq_voucher_redemptions_voucher_user')
    )
    with op.batch_alter_table('voucher_redemptions', schema=None) as batch_op:
        batch_op.create_index('ix_voucher_redemptions_user_id', ['user_id'], unique=False)

    # The buyer's history index (user_id, id) comes with migration 0009.



def downgrade():
    with op.batch_alter_table('voucher_redemptions', schema=None) as batch_op:
        batch_op.drop_index('ix_voucher_redemptions_user_id')

    op.drop_table('voucher_redemptions')
    with op.batch_alter_table('vouchers', schema=None) as batch_op:
        batch_op.drop_index('ix_vouchers_created_at')
        batch_op.drop_index('ix_vouchers_batch_id')

    op.drop_table('vouchers')
