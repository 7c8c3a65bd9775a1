"""The read models' SQL tables (SQLAlchemy Core), in the ledger's own database and schema.

Amounts are stored as plain decimal strings: SQLite has no exact decimal type, and a read model
must show the booked figure to the last quantum on both backends.
"""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Column, Index, Integer, MetaData, String, Table

metadata = MetaData()
AMOUNT = String(64)
NAME = String(128)
TIME = String(32)

tracking = Table(
    "ll_tracking",
    metadata,
    Column("projection", String(64), primary_key=True),
    Column("position", BigInteger, nullable=False),
)

balances = Table(
    "ll_balances",
    metadata,
    Column("account", NAME, primary_key=True),
    Column("account_id", String(36), nullable=False, unique=True),
    Column("cash", AMOUNT, nullable=False),
    Column("margin", AMOUNT, nullable=False),
    Column("withheld", AMOUNT, nullable=False),
    Column("available", AMOUNT, nullable=False),
    Column("positions", JSON, nullable=False),
    Column("at", TIME, nullable=False),
    Column("notification_id", BigInteger, nullable=False),
)

fund_flows = Table(
    "ll_fund_flows",
    metadata,
    Column("notification_id", BigInteger, primary_key=True),
    Column("entry", Integer, primary_key=True),
    Column("account", NAME, nullable=False),
    Column("type", String(32), nullable=False),
    Column("balance", String(8), nullable=False),
    Column("amount", AMOUNT, nullable=False),
    Column("cash_after", AMOUNT, nullable=False),
    Column("margin_after", AMOUNT, nullable=False),
    Column("withheld_after", AMOUNT, nullable=False),
    Column("balance_after", AMOUNT, nullable=False),
    Column("cycle", NAME),
    Column("contract", String(32)),
    Column("at", TIME, nullable=False),
    Column("event_id", String(64), nullable=False),
    Index("ll_fund_flows_by_account", "account", "notification_id", "entry"),
)

insurance_fund_history = Table(
    "ll_insurance_fund_history",
    metadata,
    Column("notification_id", BigInteger, primary_key=True),
    Column("type", String(16), nullable=False),
    Column("amount", AMOUNT, nullable=False),
    Column("balance_after", AMOUNT, nullable=False),
    Column("cycle", NAME),
    Column("account", NAME),
    Column("contract", String(32)),
    Column("at", TIME, nullable=False),
    Column("event_id", String(64), nullable=False),
)

cycles = Table(
    "ll_cycles",
    metadata,
    Column("cycle", NAME, primary_key=True),
    Column("cycle_id", String(36), nullable=False, unique=True),
    Column("status", String(16), nullable=False),
    Column("policy_version", Integer, nullable=False),
    Column("opened_at", TIME, nullable=False),
    Column("settled_at", TIME),
    Column("deficit", AMOUNT, nullable=False),
    Column("takeovers", Integer, nullable=False),
    Column("refunded", AMOUNT, nullable=False),
    Column("summary", JSON),
    Column("notification_id", BigInteger, nullable=False),
)

participants = Table(
    "ll_participants",
    metadata,
    Column("cycle", NAME, primary_key=True),
    Column("rank", Integer, primary_key=True),
    Column("account", NAME, nullable=False),
    Column("contract", String(32), nullable=False),
    Column("profit", AMOUNT, nullable=False),
    Column("share", AMOUNT, nullable=False),
    Index("ll_participants_by_account", "account", "cycle"),
)

ledger_balances = Table(
    "ll_ledger_balances",
    metadata,
    Column("ledger_account", NAME, primary_key=True),
    Column("balance", AMOUNT, nullable=False),
)

READ_MODELS = [
    balances,
    fund_flows,
    insurance_fund_history,
    cycles,
    participants,
    ledger_balances,
    tracking,
]

# Access tokens of the HTTP API: configuration, not a read model (a rebuild keeps them).
tokens = Table(
    "ll_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("role", String(16), nullable=False),
    Column("account", NAME),
    Column("created_at", TIME, nullable=False),
)
