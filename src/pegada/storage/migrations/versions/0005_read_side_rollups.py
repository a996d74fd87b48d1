"""read side: rollups of visits, pages and sequence gaps, refreshed before reports

The tables start empty: the first report read of each tenant builds its rows (the refresher
of usecases/rollups.py), and from then on only the sessions that changed are redone.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from pegada.storage.types import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _tenant_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["tenant_id"], ["tenants.id"], name=op.f(f"fk_{table}_tenant_id_tenants")
    )


def upgrade() -> None:
    op.create_table(
        "report_visits",
        sa.Column("visit_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.Column("session_id", sa.BigInteger(), nullable=False),
        sa.Column("local_day", sa.Date(), nullable=False),
        sa.Column("page_count", sa.Integer(), nullable=False),
        sa.Column("channel_type", sa.String(length=40), nullable=False),
        sa.Column("source", sa.String(length=255), nullable=True),
        sa.Column("medium", sa.String(length=255), nullable=True),
        sa.Column("campaign", sa.String(length=512), nullable=True),
        sa.Column("landing_host", sa.String(length=255), nullable=False),
        sa.Column("landing_path", sa.String(length=2048), nullable=False),
        sa.Column("device_type", sa.String(length=16), nullable=True),
        sa.Column("browser", sa.String(length=64), nullable=True),
        sa.Column("os", sa.String(length=64), nullable=True),
        sa.Column("prev_day", sa.Date(), nullable=True),
        sa.Column("prev_day_channel", sa.Date(), nullable=True),
        sa.Column("prev_day_source_medium_campaign", sa.Date(), nullable=True),
        sa.Column("prev_day_landing_page", sa.Date(), nullable=True),
        sa.Column("prev_day_device", sa.Date(), nullable=True),
        sa.Column("prev_day_browser", sa.Date(), nullable=True),
        sa.Column("prev_day_os", sa.Date(), nullable=True),
        sa.Column("credited_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("visit_id", name=op.f("pk_report_visits")),
    )
    with op.batch_alter_table("report_visits", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_report_visits_session_id"), ["session_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_report_visits_tenant_id_local_day"),
            ["tenant_id", "local_day"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_report_visits_tenant_id_credited_at"),
            ["tenant_id", "credited_at"],
            unique=False,
        )

    op.create_table(
        "report_pages",
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.Column("session_id", sa.BigInteger(), nullable=False),
        sa.Column("visit_id", sa.BigInteger(), nullable=False),
        sa.Column("local_day", sa.Date(), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("path", sa.String(length=2048), nullable=False),
        sa.Column("views", sa.Integer(), nullable=False),
        sa.Column("prev_day", sa.Date(), nullable=True),
    )
    with op.batch_alter_table("report_pages", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_report_pages_session_id"), ["session_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_report_pages_tenant_id_local_day"),
            ["tenant_id", "local_day"],
            unique=False,
        )

    op.create_table(
        "report_gaps",
        sa.Column("tenant_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("session_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("last_at", UTCDateTime(), nullable=False),
        sa.Column("missing", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "session_id", "host", name=op.f("pk_report_gaps")),
    )
    with op.batch_alter_table("report_gaps", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_report_gaps_tenant_id_last_at"), ["tenant_id", "last_at"], unique=False
        )

    op.create_table(
        "report_refresh",
        sa.Column("tenant_id", Id, nullable=False),
        sa.Column("page_view_id", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("submission_id", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column(
            "pending",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            server_default="[]",
            nullable=False,
        ),
        sa.Column("rebuild", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("rebuilt_through", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("refreshed_at", UTCDateTime(), nullable=True),
        _tenant_fk("report_refresh"),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_report_refresh")),
    )


def downgrade() -> None:
    op.drop_table("report_refresh")
    with op.batch_alter_table("report_gaps", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_report_gaps_tenant_id_last_at"))
    op.drop_table("report_gaps")
    with op.batch_alter_table("report_pages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_report_pages_tenant_id_local_day"))
        batch_op.drop_index(batch_op.f("ix_report_pages_session_id"))
    op.drop_table("report_pages")
    with op.batch_alter_table("report_visits", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_report_visits_tenant_id_credited_at"))
        batch_op.drop_index(batch_op.f("ix_report_visits_tenant_id_local_day"))
        batch_op.drop_index(batch_op.f("ix_report_visits_session_id"))
    op.drop_table("report_visits")
