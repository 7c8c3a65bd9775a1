"""Aggregate ids are uuid5 over business keys, computed without `uuid5`; `account_key` is the
same id's hex."""

from __future__ import annotations

from uuid import uuid5

from hypothesis import given
from hypothesis import strategies as st

from domain.core.ids import NAMESPACE, account_id, account_key


@given(st.text(min_size=1, max_size=40))
def test_an_account_key_is_the_hex_of_its_uuid5_id(name: str) -> None:
    expected = uuid5(NAMESPACE, f"account:{name}")
    assert account_id(name) == expected and account_id(name).version == 5
    assert account_key(name) == expected.hex


def test_the_keys_of_named_accounts() -> None:
    for name in ("alice", "b7-t00000001", "Zoë", "名前"):
        assert account_id(name) == uuid5(NAMESPACE, f"account:{name}")
        assert account_key(name) == account_id(name).hex
