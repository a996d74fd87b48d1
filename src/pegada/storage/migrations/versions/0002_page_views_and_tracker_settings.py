"""page views and tracker settings

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from pegada.storage.types import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "ingest_drops",
        sa.Column(
            "tenant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_ingest_drops_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("tenant_id", "day", "reason", name=op.f("pk_ingest_drops")),
    )
    op.create_table(
        "page_views",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "tenant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "session_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("occurred_at", UTCDateTime(), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("url", sa.String(length=4096), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("path", sa.String(length=2048), nullable=False),
        sa.Column("title", sa.String(length=1024), nullable=True),
        sa.Column("referrer", sa.String(length=4096), nullable=True),
        sa.Column("referrer_host", sa.String(length=255), nullable=True),
        sa.Column(
            "utm",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("channel_type", sa.String(length=40), nullable=False),
        sa.Column("source", sa.String(length=255), nullable=True),
        sa.Column("medium", sa.String(length=255), nullable=True),
        sa.Column("campaign", sa.String(length=512), nullable=True),
        sa.Column("device_type", sa.String(length=16), nullable=True),
        sa.Column("device_name", sa.String(length=128), nullable=True),
        sa.Column("os", sa.String(length=64), nullable=True),
        sa.Column("os_version", sa.String(length=32), nullable=True),
        sa.Column("browser", sa.String(length=64), nullable=True),
        sa.Column("browser_version", sa.String(length=32), nullable=True),
        sa.Column("screen", sa.String(length=16), nullable=True),
        sa.Column("language", sa.String(length=35), nullable=True),
        sa.Column("time_on_previous_ms", sa.BigInteger(), nullable=True),
        sa.Column("ip_prefix", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["session_id"], ["sessions.id"], name=op.f("fk_page_views_session_id_sessions")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_page_views_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_page_views")),
        sa.UniqueConstraint(
            "tenant_id",
            "session_id",
            "host",
            "seq",
            name=op.f("uq_page_views_tenant_id_session_id_host_seq"),
        ),
    )
    with op.batch_alter_table("page_views", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_page_views_session_id_occurred_at"),
            ["session_id", "occurred_at"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_page_views_tenant_id_occurred_at"),
            ["tenant_id", "occurred_at"],
            unique=False,
        )

    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "crm_fields",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                server_default="[]",
                nullable=False,
            )
        )

    with op.batch_alter_table("tenants", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("honor_dnt", sa.Boolean(), server_default=sa.true(), nullable=False)
        )
        batch_op.add_column(
            sa.Column(
                "allowed_origins",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                server_default="[]",
                nullable=False,
            )
        )


def downgrade() -> None:

    with op.batch_alter_table("tenants", schema=None) as batch_op:
        batch_op.drop_column("allowed_origins")
        batch_op.drop_column("honor_dnt")

    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_column("crm_fields")

    with op.batch_alter_table("page_views", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_page_views_tenant_id_occurred_at"))
        batch_op.drop_index(batch_op.f("ix_page_views_session_id_occurred_at"))

    op.drop_table("page_views")
    op.drop_table("ingest_drops")
