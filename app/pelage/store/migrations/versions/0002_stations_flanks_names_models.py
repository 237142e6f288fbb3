"""station metadata and outages, detection flank, individual names, model registry

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""
import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('stations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('x', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('y', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('crs', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('lat', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('lon', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('setup_date', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('retrieval_date', sa.Date(), nullable=True))

    with op.batch_alter_table('detections', schema=None) as batch_op:
        batch_op.add_column(sa.Column('flank', sa.Enum('left', 'right', name='flank', native_enum=False, length=16), nullable=True))

    op.create_table('station_outages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('station_id', sa.Integer(), nullable=False),
    sa.Column('start_date', sa.Date(), nullable=False),
    sa.Column('end_date', sa.Date(), nullable=False),
    sa.ForeignKeyConstraint(['station_id'], ['stations.id'], name=op.f('fk_station_outages_station_id_stations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_station_outages'))
    )
    with op.batch_alter_table('station_outages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_station_outages_station_id'), ['station_id'], unique=False)

    op.create_table('individual_names',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('detection_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['detection_id'], ['detections.id'], name=op.f('fk_individual_names_detection_id_detections'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_individual_names'))
    )
    with op.batch_alter_table('individual_names', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_individual_names_detection_id'), ['detection_id'], unique=False)

    op.create_table('models',
    sa.Column('id', sa.String(length=100), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('path', sa.Text(), nullable=False),
    sa.Column('parent_id', sa.String(length=100), nullable=True),
    sa.Column('recipe', sa.Text(), nullable=True),
    sa.Column('data', sa.Text(), nullable=True),
    sa.Column('metrics', sa.Text(), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_models'))
    )


def downgrade() -> None:
    op.drop_table('models')
    with op.batch_alter_table('individual_names', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_individual_names_detection_id'))
    op.drop_table('individual_names')
    with op.batch_alter_table('station_outages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_station_outages_station_id'))
    op.drop_table('station_outages')
    with op.batch_alter_table('detections', schema=None) as batch_op:
        batch_op.drop_column('flank')
    with op.batch_alter_table('stations', schema=None) as batch_op:
        for column in ('retrieval_date', 'setup_date', 'lon', 'lat', 'crs', 'y', 'x'):
            batch_op.drop_column(column)
