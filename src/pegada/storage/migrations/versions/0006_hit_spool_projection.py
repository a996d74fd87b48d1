"""hit spool: the projector's marks and the requests it could not project

Hits are now committed into a local spool file before their reply and projected into this
database afterwards (ingest/projector.py); `spool_marks` says how far each spool has been
projected, `unprojected_requests` keeps what failed to project.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from pegada.storage.types import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "spool_marks",
        sa.Column("spool_id", sa.String(length=32), nullable=False),
        sa.Column("projected_through", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("spool_id", name=op.f("pk_spool_marks")),
    )
    op.create_table(
        "unprojected_requests",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.BigInteger(), nullable=True),
        sa.Column("spool_id", sa.String(length=32), nullable=False),
        sa.Column("spooled_id", sa.BigInteger(), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("host_client", sa.String(length=20), nullable=False),
        sa.Column("user_agent", sa.Text(), nullable=True),
        sa.Column("network", sa.String(length=64), nullable=True),
        sa.Column("refusal", sa.String(length=32), nullable=True),
        sa.Column("refused_hits", sa.Integer(), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=True),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("failed_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_unprojected_requests")),
        sa.UniqueConstraint(
            "spool_id", "spooled_id", name=op.f("uq_unprojected_requests_spool_id_spooled_id")
        ),
    )
    with op.batch_alter_table("unprojected_requests", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_unprojected_requests_tenant_id"), ["tenant_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("unprojected_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_unprojected_requests_tenant_id"))
    op.drop_table("unprojected_requests")
    op.drop_table("spool_marks")
