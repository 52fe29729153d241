"""dashboard_days: closed days' dashboard figures, computed once

Revision ID: 0010
Revises: 0006
Create Date: 2026-12-02 09:20:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0010'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('dashboard_days',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('figures', sa.Text(), nullable=False),
    sa.Column('computed_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('day')
    )


def downgrade():
    op.drop_table('dashboard_days')
