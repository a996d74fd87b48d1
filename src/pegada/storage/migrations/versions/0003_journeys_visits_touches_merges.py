"""journeys: visits, touches, merges

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from pegada.storage.types import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "contact_merges",
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
            "survivor_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "merged_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("reason", sa.String(length=300), nullable=False),
        sa.Column(
            "snapshot",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("merged_at", UTCDateTime(), nullable=False),
        sa.Column("unmerged_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["merged_id"], ["contacts.id"], name=op.f("fk_contact_merges_merged_id_contacts")
        ),
        sa.ForeignKeyConstraint(
            ["survivor_id"], ["contacts.id"], name=op.f("fk_contact_merges_survivor_id_contacts")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_contact_merges_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_merges")),
    )
    with op.batch_alter_table("contact_merges", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_contact_merges_merged_id"), ["merged_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_contact_merges_survivor_id"), ["survivor_id"], unique=False
        )

    op.create_table(
        "visits",
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
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("ended_at", UTCDateTime(), nullable=False),
        sa.Column("local_day", sa.Date(), nullable=False),
        sa.Column("page_count", sa.Integer(), nullable=False),
        sa.Column("landing_url", sa.String(length=4096), nullable=False),
        sa.Column("landing_host", sa.String(length=255), nullable=False),
        sa.Column("landing_path", sa.String(length=2048), nullable=False),
        sa.Column("exit_url", sa.String(length=4096), nullable=False),
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
        sa.Column("os", sa.String(length=64), nullable=True),
        sa.Column("browser", sa.String(length=64), nullable=True),
        sa.Column("rules_version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"], ["sessions.id"], name=op.f("fk_visits_session_id_sessions")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_visits_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_visits")),
    )
    with op.batch_alter_table("visits", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_visits_session_id_started_at"),
            ["session_id", "started_at"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_visits_tenant_id_local_day"), ["tenant_id", "local_day"], unique=False
        )

    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "first_touch",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                nullable=True,
            )
        )
        batch_op.add_column(
            sa.Column(
                "last_touch",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                nullable=True,
            )
        )
        batch_op.add_column(sa.Column("first_channel", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("converted_session_id", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("converted_at", UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("merged_into", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("search_text", sa.String(length=1024), nullable=True))

    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("visit_id", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("channel_type", sa.String(length=40), nullable=True))

    with op.batch_alter_table("page_views", schema=None) as batch_op:
        batch_op.add_column(sa.Column("visit_id", sa.BigInteger(), nullable=True))
        batch_op.create_index(batch_op.f("ix_page_views_visit_id"), ["visit_id"], unique=False)

    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("open_visit_id", sa.BigInteger(), nullable=True))
        batch_op.add_column(
            sa.Column("identity_claims", sa.Integer(), server_default="0", nullable=False)
        )

    with op.batch_alter_table("tenants", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("visit_idle_minutes", sa.Integer(), server_default="30", nullable=False)
        )


def downgrade() -> None:

    with op.batch_alter_table("tenants", schema=None) as batch_op:
        batch_op.drop_column("visit_idle_minutes")

    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.drop_column("identity_claims")
        batch_op.drop_column("open_visit_id")

    with op.batch_alter_table("page_views", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_page_views_visit_id"))
        batch_op.drop_column("visit_id")

    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_column("channel_type")
        batch_op.drop_column("visit_id")

    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_column("search_text")
        batch_op.drop_column("merged_into")
        batch_op.drop_column("converted_at")
        batch_op.drop_column("converted_session_id")
        batch_op.drop_column("first_channel")
        batch_op.drop_column("last_touch")
        batch_op.drop_column("first_touch")

    with op.batch_alter_table("visits", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_visits_tenant_id_local_day"))
        batch_op.drop_index(batch_op.f("ix_visits_session_id_started_at"))

    op.drop_table("visits")
    with op.batch_alter_table("contact_merges", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contact_merges_survivor_id"))
        batch_op.drop_index(batch_op.f("ix_contact_merges_merged_id"))

    op.drop_table("contact_merges")
