"""where a detection's flank came from (a reviewer or the predictor) and the prediction's confidence

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""
import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('detections', schema=None) as batch_op:
        batch_op.add_column(sa.Column('flank_source', sa.Enum('user', 'predicted', name='flank_source', native_enum=False, length=16),
                                      nullable=True))
        batch_op.add_column(sa.Column('flank_confidence', sa.Float(), nullable=True))
    # Before this revision only a reviewer could set a flank.
    op.execute("UPDATE detections SET flank_source = 'user' WHERE flank IS NOT NULL")


def downgrade() -> None:
    with op.batch_alter_table('detections', schema=None) as batch_op:
        batch_op.drop_column('flank_confidence')
        batch_op.drop_column('flank_source')
