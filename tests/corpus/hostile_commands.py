"""A corpus of hostile command lines: each must be refused, alone, with a clear one-line
reason, a non-zero exit and the store left byte for byte as it was.

Each case is one line of a command file (bytes, since some are not UTF-8), the category of the
mistake, a regular expression the reason must match, and the prepared store it is applied to:

- "open": PREFIX applied: a policy, four funded accounts, a fund deposit, cycle c1 settled with
  alice long and bob short carried into cycle c2, which is open with marks for BTCUSDT and
  ETHUSDT, and carol long 1 BTCUSDT at 100 on a margin of 1 (liquidatable at a mark of 99);
- "settled": the same, and c2 settled: no cycle is open.

HAND holds the cases written one by one; `generated()` builds families of cases from valid
commands, one hostile value at a time, deterministically. `cases()` is both, names unique.
"""

# ruff: noqa: E501  (one case a line: the corpus reads best unwrapped)
from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

PREFIX = [
    '{"type":"set_policy","id":"p-1","fund_share":"0.2"}',
    '{"type":"open_account","id":"a-alice","account":"alice"}',
    '{"type":"open_account","id":"a-bob","account":"bob"}',
    '{"type":"open_account","id":"a-carol","account":"carol"}',
    '{"type":"open_account","id":"a-dave","account":"dave"}',
    '{"type":"deposit","id":"d-alice","account":"alice","amount":"1000"}',
    '{"type":"deposit","id":"d-bob","account":"bob","amount":"1000"}',
    '{"type":"deposit","id":"d-carol","account":"carol","amount":"1000"}',
    '{"type":"deposit","id":"d-dave","account":"dave","amount":"1000"}',
    '{"type":"fund_deposit","id":"f-1","amount":"100"}',
    '{"type":"open_cycle","id":"o-c1","cycle":"c1","marks":{"BTCUSDT":"100"}}',
    '{"type":"open_position","id":"op-alice","account":"alice","contract":"BTCUSDT",'
    '"side":"long","size":"1","price":"100","margin":"10"}',
    '{"type":"open_position","id":"op-bob","account":"bob","contract":"BTCUSDT",'
    '"side":"short","size":"1","price":"100","margin":"10"}',
    '{"type":"settle_cycle","id":"s-c1","cycle":"c1","marks":{"BTCUSDT":"100"}}',
    '{"type":"open_cycle","id":"o-c2","cycle":"c2","marks":{"BTCUSDT":"100","ETHUSDT":"10"}}',
    '{"type":"open_position","id":"op-carol","account":"carol","contract":"BTCUSDT",'
    '"side":"long","size":"1","price":"100","margin":"1"}',
]
SETTLED_PREFIX = [
    *PREFIX,
    '{"type":"settle_cycle","id":"s-c2","cycle":"c2","marks":{"BTCUSDT":"100","ETHUSDT":"10"}}',
]
STORES = {"open": PREFIX, "settled": SETTLED_PREFIX}

# The reasons, by what they say (regular expressions, matched case-insensitively).
NOT_JSON = "not valid JSON"
NUMBER = "numbers must be strings"
CONSTANT = "is not allowed: numbers are decimal strings"
PLAIN = "must be a plain decimal string"
NOT_A_NUMBER = "is not a decimal number"
DIGITS = "has more digits than the ledger allows"
DECIMAL_STRING = "must be a decimal string such as"
POSITIVE = "must be greater than zero"
QUANTA = "not a whole number of quanta"
PATTERN = "has characters or a length the ledger does not allow"
UTF8 = "not valid UTF-8"
UNICODE = "not valid Unicode"
DEPTH = "nest more than 16 levels"
DUPLICATE_KEY = "duplicated key"
UNKNOWN_FIELD = "unknown field"
MISSING = "missing field"
CONFLICT = "was applied before with different content"
NEVER_OPENED = "was never opened"
LINE_TOO_LONG = r"long|1[,_ ]?000[,_ ]?000"  # the runner may refuse it before the parser does


@dataclass(frozen=True)
class Case:
    name: str
    category: str
    line: bytes
    reason: str
    store: str = "open"
    origin: str = "hand"


def _hand(category: str, store: str = "open", **lines: tuple[str | bytes, str]) -> list[Case]:
    return [
        Case(
            name,
            category,
            text.encode("utf-8") if isinstance(text, str) else text,
            reason,
            store,
        )
        for name, (text, reason) in lines.items()
    ]


DEPOSIT = '{"type":"deposit","id":"x-1","account":"alice","amount":"5"}'


def _padded(line: str, size: int) -> str:
    """The line with a "pad" field that makes it exactly `size` bytes long."""
    head = line[:-1] + ',"pad":"'
    return head + "p" * (size - len(head) - 2) + '"}'


# fmt: off
HAND = [
    *_hand(
        "broken_json",
        truncated_object=('{"type":"deposit","id":"x-1","account":"alice","amount":"5"', NOT_JSON),
        truncated_in_string=('{"type":"deposit","id":"x-1","account":"ali', NOT_JSON),
        trailing_comma=('{"type":"deposit","id":"x-1","account":"alice","amount":"5",}', NOT_JSON),
        single_quotes=("{'type':'deposit','id':'x-1','account':'alice','amount':'5'}", NOT_JSON),
        unquoted_keys=('{type:"deposit",id:"x-1",account:"alice",amount:"5"}', NOT_JSON),
        a_comment=('{"type":"deposit", /* five */ "id":"x-1","account":"alice"}', NOT_JSON),
        two_objects_on_one_line=(DEPOSIT + " " + DEPOSIT, NOT_JSON),
        trailing_garbage=(DEPOSIT + "x", NOT_JSON),
        missing_colon=('{"type" "deposit","id":"x-1"}', NOT_JSON),
        missing_comma=('{"type":"deposit" "id":"x-1"}', NOT_JSON),
        only_an_opening_brace=("{", NOT_JSON),
        only_a_closing_brace=("}", NOT_JSON),
        bare_word=("deposit alice 5", NOT_JSON),
        a_raw_tab_in_a_string=('{"type":"deposit","id":"x\t1","account":"alice","amount":"5"}', NOT_JSON),
        a_raw_nul_byte=('{"type":"deposit","id":"x-1","account":"alice\x00","amount":"5"}', NOT_JSON),
        a_command_broken_over_two_lines=('{"type":"deposit","id":"x-1",\n"account":"alice"}', NOT_JSON),
        a_bad_escape=('{"type":"deposit","id":"x\\q1","account":"alice","amount":"5"}', NOT_JSON),
        a_short_unicode_escape=('{"type":"deposit","id":"x\\u12","account":"alice"}', NOT_JSON),
        an_array_of_one_command=("[" + DEPOSIT + "]", "must be a JSON object, got an array"),
        a_string=('"deposit"', "must be a JSON object, got a string"),
        null=("null", "must be a JSON object, got null"),
        true=("true", "must be a JSON object, got a boolean"),
        an_empty_object=("{}", MISSING + " type"),
    ),
    *_hand(
        "wrong_type",
        type_as_array=('{"type":["deposit"],"id":"x-1"}', "unknown command type"),
        type_as_null=('{"type":null,"id":"x-1"}', "unknown command type None"),
        type_in_capitals=('{"type":"DEPOSIT","id":"x-1","account":"alice","amount":"5"}', "unknown command type 'DEPOSIT'"),
        id_as_boolean=('{"type":"deposit","id":true,"account":"alice","amount":"5"}', "id must be a JSON string, not a boolean"),
        id_as_null=('{"type":"deposit","id":null,"account":"alice","amount":"5"}', "id must be a JSON string, not null"),
        account_as_object=('{"type":"deposit","id":"x-1","account":{"id":"alice"},"amount":"5"}', "account must be a JSON string, not an object"),
        account_as_array=('{"type":"deposit","id":"x-1","account":["alice"],"amount":"5"}', "account must be a JSON string, not an array"),
        amount_as_boolean=('{"type":"deposit","id":"x-1","account":"alice","amount":true}', "amount " + DECIMAL_STRING),
        amount_as_null=('{"type":"deposit","id":"x-1","account":"alice","amount":null}', "amount " + DECIMAL_STRING),
        amount_as_object=('{"type":"deposit","id":"x-1","account":"alice","amount":{"value":"5"}}', "amount " + DECIMAL_STRING),
        marks_as_a_string=('{"type":"settle_cycle","id":"x-1","cycle":"c2","marks":"100"}', "marks must be a JSON object, not a string"),
        marks_as_an_array=('{"type":"settle_cycle","id":"x-1","cycle":"c2","marks":[["BTCUSDT","100"]]}', "marks must be a JSON object, not an array"),
        fills_as_an_object=('{"type":"liquidate","id":"x-1","account":"carol","contract":"BTCUSDT","mark":"99","fills":{"price":"90","size":"1"}}', "fills must be a JSON array, not an object"),
        a_fill_as_a_string=('{"type":"liquidate","id":"x-1","account":"carol","contract":"BTCUSDT","mark":"99","fills":["90x1"]}', r"fills\[1\] must be a JSON object"),
        side_up=('{"type":"open_position","id":"x-1","account":"dave","contract":"BTCUSDT","side":"up","size":"1","price":"100","margin":"10"}', "side must be 'long' or 'short', got 'up'"),
        side_in_capitals=('{"type":"open_position","id":"x-1","account":"dave","contract":"BTCUSDT","side":"LONG","size":"1","price":"100","margin":"10"}', "side must be 'long' or 'short'"),
        fund_mode_unknown=('{"type":"set_policy","id":"x-1","fund_mode":"all"}', "fund_mode must be 'share' or 'first'"),
        denominator_unknown=('{"type":"set_policy","id":"x-1","denominator":"some"}', "denominator must be 'selected' or 'all'"),
        asset_in_lower_case=('{"type":"set_policy","id":"x-1","asset":"usdt"}', "asset " + PATTERN),
        rate_map_with_a_bad_rate=('{"type":"set_policy","id":"x-1","maintenance_margin_rate":{"BTCUSDT":"half"}}', "maintenance_margin_rate.BTCUSDT " + PLAIN),
        rate_as_an_array=('{"type":"set_policy","id":"x-1","initial_margin_rate":["0.01"]}', "initial_margin_rate " + DECIMAL_STRING),
        at_as_boolean=('{"type":"deposit","id":"x-1","account":"alice","amount":"5","at":true}', "at must be a JSON string"),
        at_without_a_time=('{"type":"deposit","id":"x-1","account":"alice","amount":"5","at":"2026-11-21"}', "at must be an RFC 3339 UTC time"),
        at_in_month_13=('{"type":"deposit","id":"x-1","account":"alice","amount":"5","at":"2026-13-01T00:00:00Z"}', "at is not an RFC 3339 time"),
        at_in_paris=('{"type":"deposit","id":"x-1","account":"alice","amount":"5","at":"2026-11-21T09:00:00+01:00"}', r"at must be in UTC"),
        at_without_a_zone=('{"type":"deposit","id":"x-1","account":"alice","amount":"5","at":"2026-11-21T08:00:00"}', r"at must be in UTC"),
        reason_as_a_number_string_array=('{"type":"refund_cycle","id":"x-1","cycle":"c1","amount":"1","reason":["late"]}', "reason must be a JSON string, not an array"),
        markup_in_the_type=('{"type":"[/red]","id":"x-1"}', r"unknown command type '\[/red\]'"),
        markup_in_the_account=('{"type":"deposit","id":"x-1","account":"[bold]alice","amount":"5"}', "account " + PATTERN + r".*got '\[bold\]alice'"),
    ),
    *_hand(
        "json_number",
        amount_as_integer=('{"type":"deposit","id":"x-1","account":"alice","amount":5}', NUMBER),
        amount_as_float=('{"type":"deposit","id":"x-1","account":"alice","amount":12.5}', NUMBER + ': write "12.5" instead of 12.5'),
        amount_as_negative_float=('{"type":"withdraw","id":"x-1","account":"alice","amount":-0.5}', NUMBER),
        amount_as_zero=('{"type":"fund_deposit","id":"x-1","amount":0}', NUMBER),
        size_as_integer=('{"type":"open_position","id":"x-1","account":"dave","contract":"BTCUSDT","side":"long","size":1,"price":"100","margin":"10"}', NUMBER),
        price_as_float=('{"type":"close_position","id":"x-1","account":"alice","contract":"BTCUSDT","size":"1","price":101.25}', NUMBER),
        mark_as_integer=('{"type":"liquidate","id":"x-1","account":"carol","contract":"BTCUSDT","mark":99,"fills":[{"price":"90","size":"1"}]}', NUMBER),
        fill_price_as_float=('{"type":"liquidate","id":"x-1","account":"carol","contract":"BTCUSDT","mark":"99","fills":[{"price":90.5,"size":"1"}]}', NUMBER),
        mark_in_marks_as_integer=('{"type":"settle_cycle","id":"x-1","cycle":"c2","marks":{"BTCUSDT":100,"ETHUSDT":"10"}}', NUMBER),
        id_as_integer=('{"type":"deposit","id":7,"account":"alice","amount":"5"}', NUMBER),
        fund_share_as_float=('{"type":"set_policy","id":"x-1","fund_share":0.3}', NUMBER),
        a_long_integer=('{"type":"deposit","id":"x-1","account":"alice","amount":' + "9" * 5000 + "}", NUMBER),
        a_top_level_number=("42", NUMBER),
    ),
    *_hand(
        "nan_infinity",
        amount_nan=('{"type":"deposit","id":"x-1","account":"alice","amount":NaN}', "NaN " + CONSTANT),
        amount_infinity=('{"type":"deposit","id":"x-1","account":"alice","amount":Infinity}', "Infinity " + CONSTANT),
        amount_minus_infinity=('{"type":"withdraw","id":"x-1","account":"alice","amount":-Infinity}', "-Infinity " + CONSTANT),
        mark_nan=('{"type":"liquidate","id":"x-1","account":"carol","contract":"BTCUSDT","mark":NaN,"fills":[{"price":"90","size":"1"}]}', CONSTANT),
        amount_nan_string=('{"type":"deposit","id":"x-1","account":"alice","amount":"NaN"}', PLAIN),
        amount_snan_string=('{"type":"deposit","id":"x-1","account":"alice","amount":"sNaN"}', PLAIN),
        price_infinity_string=('{"type":"close_position","id":"x-1","account":"alice","contract":"BTCUSDT","size":"1","price":"Infinity"}', PLAIN),
        price_inf_string=('{"type":"close_position","id":"x-1","account":"alice","contract":"BTCUSDT","size":"1","price":"-inf"}', PLAIN),
        settlement_mark_nan_string=('{"type":"settle_cycle","id":"x-1","cycle":"c2","marks":{"BTCUSDT":"nan","ETHUSDT":"10"}}', "marks.BTCUSDT " + PLAIN),
    ),
    *_hand(
        "exponent_bomb",
        number_1e999999=('{"type":"deposit","id":"x-1","account":"alice","amount":1e999999}', NUMBER + ".*without an exponent"),
        number_minus_1e999999=('{"type":"deposit","id":"x-1","account":"alice","amount":-1e999999}', NUMBER),
        number_1e_minus_999999=('{"type":"deposit","id":"x-1","account":"alice","amount":1e-999999}', NUMBER),
        number_capital_e=('{"type":"deposit","id":"x-1","account":"alice","amount":1E999999999999}', NUMBER),
        string_1e999999=('{"type":"deposit","id":"x-1","account":"alice","amount":"1e999999"}', PLAIN + r".*no exponent"),
        string_1E999999=('{"type":"withdraw","id":"x-1","account":"alice","amount":"1E999999"}', PLAIN),
        string_1e_minus_999999=('{"type":"deposit","id":"x-1","account":"alice","amount":"1e-999999"}', PLAIN),
        string_size_exponent=('{"type":"open_position","id":"x-1","account":"dave","contract":"BTCUSDT","side":"long","size":"1e999999","price":"100","margin":"10"}', "size " + PLAIN),
        string_mark_exponent=('{"type":"settle_cycle","id":"x-1","cycle":"c2","marks":{"BTCUSDT":"1e999999","ETHUSDT":"10"}}', "marks.BTCUSDT " + PLAIN),
        string_fill_exponent=('{"type":"liquidate","id":"x-1","account":"carol","contract":"BTCUSDT","mark":"99","fills":[{"price":"9e99999999","size":"1"}]}', r"fills\[1\]\.price " + PLAIN),
        string_quantum_exponent=('{"type":"set_policy","id":"x-1","quantum":"1e-8"}', "quantum " + PLAIN),
        string_exponent_without_digits=('{"type":"deposit","id":"x-1","account":"alice","amount":"1e"}', PLAIN),
    ),
    *_hand(
        "too_many_digits",
        amount_19_whole_digits=('{"type":"deposit","id":"x-1","account":"alice","amount":"1234567890123456789"}', DIGITS),
        amount_19_fraction_digits=('{"type":"deposit","id":"x-1","account":"alice","amount":"1.0000000000000000001"}', DIGITS),
        price_19_fraction_digits=('{"type":"close_position","id":"x-1","account":"alice","contract":"BTCUSDT","size":"1","price":"100.0000000000000000001"}', "price " + DIGITS),
        size_a_thousand_digits=('{"type":"open_position","id":"x-1","account":"dave","contract":"BTCUSDT","side":"long","size":"' + "1" * 1000 + '","price":"100","margin":"10"}', "size " + DIGITS),
        mark_a_hundred_thousand_digits=('{"type":"settle_cycle","id":"x-1","cycle":"c2","marks":{"BTCUSDT":"' + "7" * 100_000 + '","ETHUSDT":"10"}}', DIGITS),
        leading_zeros_beyond_64_characters=('{"type":"deposit","id":"x-1","account":"alice","amount":"' + "0" * 64 + '5"}', DIGITS),
        trailing_zeros_beyond_18_places=('{"type":"deposit","id":"x-1","account":"alice","amount":"5.0000000000000000000"}', DIGITS),
        fund_share_many_places=('{"type":"set_policy","id":"x-1","fund_share":"0.1234567890123456789"}', "fund_share " + DIGITS),
    ),
    *_hand(
        "not_positive",
        deposit_zero=('{"type":"deposit","id":"x-1","account":"alice","amount":"0"}', "amount " + POSITIVE),
        deposit_negative=('{"type":"deposit","id":"x-1","account":"alice","amount":"-5"}', "amount " + POSITIVE),
        deposit_minus_zero=('{"type":"deposit","id":"x-1","account":"alice","amount":"-0"}', "amount " + POSITIVE),
        deposit_zero_at_the_quantum=('{"type":"deposit","id":"x-1","account":"alice","amount":"0.00000000"}', "amount " + POSITIVE),
        withdraw_negative=('{"type":"withdraw","id":"x-1","account":"alice","amount":"-1000"}', "amount " + POSITIVE),
        fund_deposit_negative=('{"type":"fund_deposit","id":"x-1","amount":"-100"}', "amount " + POSITIVE),
        position_size_zero=('{"type":"open_position","id":"x-1","account":"dave","contract":"BTCUSDT","side":"long","size":"0","price":"100","margin":"10"}', "size " + POSITIVE),
        position_size_negative=('{"type":"open_position","id":"x-1","account":"dave","contract":"BTCUSDT","side":"long","size":"-1","price":"100","margin":"10"}', "size " + POSITIVE),
        position_price_zero=('{"type":"open_position","id":"x-1","account":"dave","contract":"BTCUSDT","side":"long","size":"1","price":"0","margin":"10"}', "price " + POSITIVE),
        position_margin_negative=('{"type":"open_position","id":"x-1","account":"dave","contract":"BTCUSDT","side":"long","size":"1","price":"100","margin":"-10"}', "margin " + POSITIVE),
        close_size_zero=('{"type":"close_position","id":"x-1","account":"alice","contract":"BTCUSDT","size":"0","price":"100"}', "size " + POSITIVE),
        close_price_negative=('{"type":"close_position","id":"x-1","account":"alice","contract":"BTCUSDT","size":"1","price":"-100"}', "price " + POSITIVE),
        liquidation_mark_zero=('{"type":"liquidate","id":"x-1","account":"carol","contract":"BTCUSDT","mark":"0","fills":[{"price":"90","size":"1"}]}', "mark " + POSITIVE),
        fill_size_negative=('{"type":"liquidate","id":"x-1","account":"carol","contract":"BTCUSDT","mark":"99","fills":[{"price":"90","size":"2"},{"price":"90","size":"-1"}]}', r"fills\[2\]\.size " + POSITIVE),
        fill_price_zero=('{"type":"liquidate","id":"x-1","account":"carol","contract":"BTCUSDT","mark":"99","fills":[{"price":"0","size":"1"}]}', r"fills\[1\]\.price " + POSITIVE),
        settlement_mark_zero=('{"type":"settle_cycle","id":"x-1","cycle":"c2","marks":{"BTCUSDT":"0","ETHUSDT":"10"}}', "marks.BTCUSDT " + POSITIVE),
        refund_negative=('{"type":"refund_cycle","id":"x-1","cycle":"c1","amount":"-1","reason":"late"}', "amount " + POSITIVE),
        fund_share_negative=('{"type":"set_policy","id":"x-1","fund_share":"-0.1"}', "fund_share must be between"),
        fund_floor_negative=('{"type":"set_policy","id":"x-1","fund_floor":"-1"}', "fund_floor must be a non-negative"),
        profit_cutoff_negative=('{"type":"set_policy","id":"x-1","profit_cutoff":"-0.5"}', "profit_cutoff must be between"),
    ),
    *_hand(
        "unknown_reference",
        deposit_to_an_unknown_account=('{"type":"deposit","id":"x-1","account":"zed","amount":"5"}', "account zed " + NEVER_OPENED),
        withdraw_from_an_unknown_account=('{"type":"withdraw","id":"x-1","account":"zed","amount":"5"}', "account zed " + NEVER_OPENED),
        account_differs_in_case=('{"type":"deposit","id":"x-1","account":"Alice","amount":"5"}', "account Alice " + NEVER_OPENED),
        position_for_an_unknown_account=('{"type":"open_position","id":"x-1","account":"zed","contract":"BTCUSDT","side":"long","size":"1","price":"100","margin":"10"}', "account zed " + NEVER_OPENED),
        position_in_an_unknown_contract=('{"type":"open_position","id":"x-1","account":"dave","contract":"DOGEUSDT","side":"long","size":"1","price":"100","margin":"10"}', "DOGEUSDT"),
        close_in_a_contract_never_held=('{"type":"close_position","id":"x-1","account":"alice","contract":"ETHUSDT","size":"1","price":"10"}', "ETHUSDT"),
        liquidate_an_unknown_account=('{"type":"liquidate","id":"x-1","account":"zed","contract":"BTCUSDT","mark":"99","fills":[{"price":"90","size":"1"}]}', "account zed " + NEVER_OPENED),
        fill_to_an_unknown_account=('{"type":"liquidate","id":"x-1","account":"carol","contract":"BTCUSDT","mark":"99","fills":[{"price":"90","size":"1","account":"zed"}]}', "account zed " + NEVER_OPENED),
        settle_an_unknown_cycle=('{"type":"settle_cycle","id":"x-1","cycle":"c9","marks":{"BTCUSDT":"100"}}', "cycle c9 " + NEVER_OPENED),
        refund_an_unknown_cycle=('{"type":"refund_cycle","id":"x-1","cycle":"c9","amount":"1","reason":"late"}', "cycle c9 " + NEVER_OPENED),
        settle_without_a_mark_for_a_held_contract=('{"type":"settle_cycle","id":"x-1","cycle":"c2","marks":{"ETHUSDT":"10"}}', "BTCUSDT"),
    ),
    *_hand(
        "out_of_order",
        settle_a_cycle_never_opened=('{"type":"settle_cycle","id":"x-1","cycle":"c3","marks":{"BTCUSDT":"100"}}', "cycle c3 " + NEVER_OPENED),
        settle_a_settled_cycle=('{"type":"settle_cycle","id":"x-1","cycle":"c1","marks":{"BTCUSDT":"100"}}', "cycle c1 is already settled"),
        open_a_cycle_while_one_is_open=('{"type":"open_cycle","id":"x-1","cycle":"c3","marks":{"BTCUSDT":"100","ETHUSDT":"10"}}', "c2"),
        refund_an_open_cycle=('{"type":"refund_cycle","id":"x-1","cycle":"c2","amount":"1","reason":"late"}', "cycle c2 is not settled"),
        refund_more_than_was_shared=('{"type":"refund_cycle","id":"x-1","cycle":"c1","amount":"1","reason":"late"}', "exceeds"),
        open_a_second_position_in_a_contract=('{"type":"open_position","id":"x-1","account":"alice","contract":"BTCUSDT","side":"long","size":"1","price":"100","margin":"10"}', "already"),
        close_more_than_the_position=('{"type":"close_position","id":"x-1","account":"alice","contract":"BTCUSDT","size":"2","price":"100"}', "exceeds the position size"),
        close_for_an_account_without_a_position=('{"type":"close_position","id":"x-1","account":"dave","contract":"BTCUSDT","size":"1","price":"100"}', "dave"),
        liquidate_a_position_that_holds=('{"type":"liquidate","id":"x-1","account":"alice","contract":"BTCUSDT","mark":"100","fills":[{"price":"100","size":"1"}]}', "not liquidatable"),
        fills_that_do_not_add_up=('{"type":"liquidate","id":"x-1","account":"carol","contract":"BTCUSDT","mark":"99","fills":[{"price":"90","size":"0.5"}]}', "fill sizes add up to 0.5"),
        fill_back_to_the_liquidated_account=('{"type":"liquidate","id":"x-1","account":"carol","contract":"BTCUSDT","mark":"99","fills":[{"price":"90","size":"1","account":"carol"}]}', "may not receive this position"),
        withdraw_more_than_available=('{"type":"withdraw","id":"x-1","account":"dave","amount":"1000.00000001"}', "exceeds the available balance"),
        margin_below_the_initial_rate=('{"type":"open_position","id":"x-1","account":"dave","contract":"BTCUSDT","side":"long","size":"100","price":"100","margin":"1"}', "below the initial margin"),
        open_the_account_again=('{"type":"open_account","id":"x-1","account":"alice"}', "account alice is already open"),
        change_the_quantum_after_money_was_booked=('{"type":"set_policy","id":"x-1","quantum":"0.01"}', "quantum"),
    ),
    *_hand(
        "out_of_order",
        store="settled",
        position_in_a_settled_cycle=('{"type":"open_position","id":"x-1","account":"dave","contract":"BTCUSDT","side":"long","size":"1","price":"100","margin":"10"}', "no cycle is open|no open cycle"),
        close_in_a_settled_cycle=('{"type":"close_position","id":"x-1","account":"alice","contract":"BTCUSDT","size":"1","price":"100"}', "no cycle is open|no open cycle"),
        liquidate_in_a_settled_cycle=('{"type":"liquidate","id":"x-1","account":"carol","contract":"BTCUSDT","mark":"99","fills":[{"price":"90","size":"1"}]}', "no cycle is open|no open cycle"),
        open_a_settled_cycle_again=('{"type":"open_cycle","id":"x-1","cycle":"c1","marks":{"BTCUSDT":"100"}}', "c1"),
        settle_the_last_cycle_twice=('{"type":"settle_cycle","id":"x-1","cycle":"c2","marks":{"BTCUSDT":"100","ETHUSDT":"10"}}', "cycle c2 is already settled"),
        settle_the_next_cycle_before_it_opens=('{"type":"settle_cycle","id":"x-1","cycle":"c3","marks":{"BTCUSDT":"100","ETHUSDT":"10"}}', "cycle c3 " + NEVER_OPENED),
    ),
    *_hand(
        "duplicate_id",
        deposit_id_with_another_amount=('{"type":"deposit","id":"d-alice","account":"alice","amount":"1001"}', "d-alice " + CONFLICT),
        deposit_id_with_the_same_amount_written_otherwise=('{"type":"deposit","id":"d-alice","account":"alice","amount":"1000.0"}', CONFLICT),
        deposit_id_with_a_business_time=('{"type":"deposit","id":"d-alice","account":"alice","amount":"1000","at":"2026-01-01T00:00:00Z"}', CONFLICT),
        deposit_id_for_another_account=('{"type":"deposit","id":"d-alice","account":"bob","amount":"1000"}', CONFLICT),
        deposit_id_reused_by_a_withdrawal=('{"type":"withdraw","id":"d-alice","account":"alice","amount":"1000"}', CONFLICT),
        account_id_reused_for_another_account=('{"type":"open_account","id":"a-alice","account":"erin"}', "a-alice " + CONFLICT),
        cycle_command_id_reused=('{"type":"open_cycle","id":"o-c1","cycle":"c1","marks":{"BTCUSDT":"101"}}', CONFLICT),
        settlement_id_reused=('{"type":"settle_cycle","id":"s-c1","cycle":"c2","marks":{"BTCUSDT":"100","ETHUSDT":"10"}}', CONFLICT),
        policy_id_reused=('{"type":"set_policy","id":"p-1","fund_share":"0.3"}', CONFLICT),
        position_id_reused=('{"type":"open_position","id":"op-carol","account":"carol","contract":"BTCUSDT","side":"long","size":"1","price":"100","margin":"2"}', CONFLICT),
    ),
    *_hand(
        "unknown_field",
        a_field_named_x=('{"type":"deposit","id":"x-1","account":"alice","amount":"5","x":"1"}', UNKNOWN_FIELD + " x"),
        amount_in_capitals=('{"type":"deposit","id":"x-1","account":"alice","Amount":"5"}', UNKNOWN_FIELD + " Amount|" + MISSING),
        a_key_with_a_trailing_space=('{"type":"deposit","id":"x-1","account":"alice","amount":"5","amount ":"5"}', UNKNOWN_FIELD + " 'amount '"),
        an_empty_key=('{"type":"deposit","id":"x-1","account":"alice","amount":"5","":"5"}', UNKNOWN_FIELD + " ''"),
        a_proto_key=('{"type":"deposit","id":"x-1","account":"alice","amount":"5","__proto__":{}}', UNKNOWN_FIELD + " __proto__"),
        a_field_of_another_command=('{"type":"deposit","id":"x-1","account":"alice","amount":"5","cycle":"c2"}', UNKNOWN_FIELD + " cycle"),
        an_unknown_field_in_a_fill=('{"type":"liquidate","id":"x-1","account":"carol","contract":"BTCUSDT","mark":"99","fills":[{"price":"90","size":"1","fee":"1"}]}', UNKNOWN_FIELD + r" fills\[1\]\.fee"),
        a_key_with_a_line_break=('{"type":"deposit","id":"x-1","account":"alice","amount":"5","a\\nb":"5"}', UNKNOWN_FIELD + r" 'a\\nb'"),
        a_comment_field=('{"type":"open_account","id":"x-1","account":"erin","comment":"vip"}', UNKNOWN_FIELD + " comment"),
        a_policy_field_that_does_not_exist=('{"type":"set_policy","id":"x-1","fund_sharing":"0.3"}', UNKNOWN_FIELD + " fund_sharing"),
    ),
    *_hand(
        "duplicate_key",
        id_twice=('{"type":"deposit","id":"x-1","id":"x-2","account":"alice","amount":"5"}', DUPLICATE_KEY + " 'id'"),
        amount_twice_with_one_value=('{"type":"deposit","id":"x-1","account":"alice","amount":"5","amount":"5"}', DUPLICATE_KEY + " 'amount'"),
        type_twice=('{"type":"deposit","type":"withdraw","id":"x-1","account":"alice","amount":"5"}', DUPLICATE_KEY + " 'type'"),
        a_mark_twice=('{"type":"settle_cycle","id":"x-1","cycle":"c2","marks":{"BTCUSDT":"100","BTCUSDT":"90","ETHUSDT":"10"}}', DUPLICATE_KEY + " 'BTCUSDT'"),
        a_fill_field_twice=('{"type":"liquidate","id":"x-1","account":"carol","contract":"BTCUSDT","mark":"99","fills":[{"price":"90","size":"1","size":"1"}]}', DUPLICATE_KEY + " 'size'"),
        a_key_twice_in_an_unknown_object=('{"type":"deposit","id":"x-1","account":"alice","amount":"5","x":{"a":"1","a":"2"}}', DUPLICATE_KEY + " 'a'"),
        a_key_written_with_an_escape=('{"type":"deposit","id":"x-1","account":"alice","amount":"5","\\u0061mount":"6"}', DUPLICATE_KEY + " 'amount'"),
    ),
    *_hand(
        "finer_than_quantum",
        deposit_one_place_too_many=('{"type":"deposit","id":"x-1","account":"alice","amount":"1.000000001"}', "amount 1.000000001 is " + QUANTA),
        deposit_below_one_quantum=('{"type":"deposit","id":"x-1","account":"alice","amount":"0.000000001"}', QUANTA),
        withdraw_a_fraction_of_a_quantum=('{"type":"withdraw","id":"x-1","account":"alice","amount":"10.123456789"}', QUANTA),
        fund_deposit_a_fraction_of_a_quantum=('{"type":"fund_deposit","id":"x-1","amount":"0.123456789"}', QUANTA),
        margin_a_fraction_of_a_quantum=('{"type":"open_position","id":"x-1","account":"dave","contract":"BTCUSDT","side":"long","size":"1","price":"100","margin":"10.000000001"}', "margin .*" + QUANTA),
        refund_a_fraction_of_a_quantum=('{"type":"refund_cycle","id":"x-1","cycle":"c1","amount":"0.000000005","reason":"late"}', QUANTA),
        fund_floor_a_fraction_of_a_quantum=('{"type":"set_policy","id":"x-1","fund_floor":"0.000000001"}', "fund_floor"),
    ),
    *_hand(
        "over_bound",
        id_of_129_characters=('{"type":"deposit","id":"' + "i" * 129 + '","account":"alice","amount":"5"}', "id " + PATTERN),
        account_of_129_characters=('{"type":"open_account","id":"x-1","account":"' + "a" * 129 + '"}', "account " + PATTERN),
        cycle_of_129_characters=('{"type":"settle_cycle","id":"x-1","cycle":"' + "c" * 129 + '","marks":{}}', "cycle " + PATTERN),
        contract_of_33_characters=('{"type":"open_position","id":"x-1","account":"dave","contract":"' + "B" * 33 + '","side":"long","size":"1","price":"100","margin":"10"}', "contract " + PATTERN),
        a_mark_key_of_33_characters=('{"type":"settle_cycle","id":"x-1","cycle":"c2","marks":{"' + "B" * 33 + '":"1"}}', "marks key .* " + PATTERN),
        an_id_of_a_hundred_thousand_characters=('{"type":"deposit","id":"' + "i" * 100_000 + '","account":"alice","amount":"5"}', "id " + PATTERN),
        a_thousand_and_one_fills=('{"type":"liquidate","id":"x-1","account":"carol","contract":"BTCUSDT","mark":"99","fills":[' + ",".join(['{"price":"90","size":"0.001"}'] * 1001) + "]}", "fills has more than 1000 items"),
        a_thousand_and_one_marks=('{"type":"settle_cycle","id":"x-1","cycle":"c2","marks":{' + ",".join(f'"K{n}":"1"' for n in range(1001)) + "}}", "marks has more than 1000 items"),
        no_fills=('{"type":"liquidate","id":"x-1","account":"carol","contract":"BTCUSDT","mark":"99","fills":[]}', "fills needs at least 1 item"),
        a_refund_reason_of_501_characters=('{"type":"refund_cycle","id":"x-1","cycle":"c1","amount":"1","reason":"' + "r" * 501 + '"}', "reason is longer than 500 characters"),
        an_empty_refund_reason=('{"type":"refund_cycle","id":"x-1","cycle":"c1","amount":"1","reason":""}', "reason must not be empty"),
        an_asset_code_of_13_characters=('{"type":"set_policy","id":"x-1","asset":"ABCDEFGHIJKLM"}', "asset " + PATTERN),
        an_empty_id=('{"type":"deposit","id":"","account":"alice","amount":"5"}', "id " + PATTERN),
        a_line_one_byte_over_the_bound=(_padded(DEPOSIT, 1_000_001), LINE_TOO_LONG),
        a_line_of_two_megabytes_of_spaces=(DEPOSIT[:-1] + " " * 2_000_000 + "}", LINE_TOO_LONG),
        a_hundred_thousand_open_brackets=("[" * 100_000, DEPTH),
        a_hundred_thousand_nested_objects=('{"a":' * 100_000, DEPTH),
        seventeen_levels=('{"type":"deposit","id":"x-1","account":"alice","amount":"5","x":' + "[" * 16 + "]" * 16 + "}", DEPTH),
        nesting_inside_a_mark=('{"type":"settle_cycle","id":"x-1","cycle":"c2","marks":{"BTCUSDT":' + "[" * 50 + "]" * 50 + "}}", DEPTH),
    ),
    *_hand(
        "invalid_utf8",
        a_lone_continuation_byte=(b'{"type":"deposit","id":"x-1","account":"al\x80ice","amount":"5"}', UTF8),
        an_overlong_slash=(b'{"type":"deposit","id":"x-1","account":"\xc0\xafalice","amount":"5"}', UTF8),
        an_encoded_surrogate=(b'{"type":"deposit","id":"x-1","account":"\xed\xa0\x80","amount":"5"}', UTF8),
        a_byte_never_used_in_utf8=(b'{"type":"deposit","id":"x-1","account":"alice\xff","amount":"5"}', UTF8),
        beyond_the_last_code_point=(b'{"type":"deposit","id":"x-1","account":"\xf4\x90\x80\x80","amount":"5"}', UTF8),
        a_sequence_cut_at_the_end=(b'{"type":"deposit","id":"x-1","account":"alice","amount":"5"}\xe2\x82', UTF8),
        latin_1_text=('{"type":"open_account","id":"x-1","account":"José"}'.encode("latin-1"), UTF8),
        utf_16_text=(DEPOSIT.encode("utf-16-le"), UTF8 + "|" + NOT_JSON),
        a_utf_16_byte_order_mark=(b"\xff\xfe" + DEPOSIT.encode("utf-8"), UTF8),
        invalid_bytes_in_a_key=(b'{"type":"deposit","id":"x-1","\xfeaccount":"alice","amount":"5"}', UTF8),
        a_utf_8_byte_order_mark=(b"\xef\xbb\xbf" + DEPOSIT.encode("utf-8"), "byte-order mark"),
        an_escaped_lone_high_surrogate=('{"type":"deposit","id":"x-1","account":"alice\\ud800","amount":"5"}', UNICODE),
        an_escaped_lone_low_surrogate=('{"type":"refund_cycle","id":"x-1","cycle":"c1","amount":"1","reason":"\\udc00"}', UNICODE),
        two_high_surrogates=('{"type":"deposit","id":"x-1","account":"alice","amount":"5","x":"\\ud800\\ud800"}', UNICODE),
        a_surrogate_in_a_key=('{"type":"deposit","id":"x-1","account":"alice","amount":"5","\\udfff":"1"}', UNICODE),
    ),
]
# fmt: on


def _line(document: dict[str, Any]) -> bytes:
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


# Valid commands in the "open" store, and the path of each decimal field in them.
VALID: dict[str, dict[str, Any]] = {
    "deposit": {"type": "deposit", "id": "x-1", "account": "alice", "amount": "5"},
    "withdraw": {"type": "withdraw", "id": "x-1", "account": "alice", "amount": "5"},
    "fund_deposit": {"type": "fund_deposit", "id": "x-1", "amount": "5"},
    "open_position": {
        "type": "open_position",
        "id": "x-1",
        "account": "dave",
        "contract": "ETHUSDT",
        "side": "short",
        "size": "2",
        "price": "10",
        "margin": "1",
    },
    "close_position": {
        "type": "close_position",
        "id": "x-1",
        "account": "alice",
        "contract": "BTCUSDT",
        "size": "1",
        "price": "100",
    },
    "liquidate": {
        "type": "liquidate",
        "id": "x-1",
        "account": "carol",
        "contract": "BTCUSDT",
        "mark": "99",
        "fills": [{"price": "90", "size": "1"}],
    },
    "settle_cycle": {
        "type": "settle_cycle",
        "id": "x-1",
        "cycle": "c2",
        "marks": {"BTCUSDT": "100", "ETHUSDT": "10"},
    },
}
DECIMAL_FIELDS = [
    ("deposit", ("amount",)),
    ("withdraw", ("amount",)),
    ("fund_deposit", ("amount",)),
    ("open_position", ("size",)),
    ("open_position", ("price",)),
    ("open_position", ("margin",)),
    ("close_position", ("size",)),
    ("close_position", ("price",)),
    ("liquidate", ("mark",)),
    ("liquidate", ("fills", 0, "price")),
    ("liquidate", ("fills", 0, "size")),
    ("settle_cycle", ("marks", "BTCUSDT")),
]
# A hostile decimal, as the JSON text that replaces the field's value, and the reason.
HOSTILE_DECIMALS = {
    "json_integer": ("json_number", "7", NUMBER),
    "json_float": ("json_number", "7.5", NUMBER),
    "json_nan": ("nan_infinity", "NaN", CONSTANT),
    "json_infinity": ("nan_infinity", "Infinity", CONSTANT),
    "json_1e999999": ("exponent_bomb", "1e999999", NUMBER),
    "string_1e999999": ("exponent_bomb", '"1e999999"', PLAIN),
    "string_infinity": ("nan_infinity", '"Infinity"', PLAIN),
    "string_with_a_space": ("wrong_type", '" 5"', PLAIN),
    "string_with_a_comma": ("wrong_type", '"5,5"', PLAIN),
    "string_with_two_points": ("wrong_type", '"5.5.5"', NOT_A_NUMBER),
    "string_in_arabic_digits": ("wrong_type", '"\u0665"', PLAIN),
    "boolean": ("wrong_type", "false", DECIMAL_STRING),
    "nineteen_whole_digits": ("too_many_digits", '"1000000000000000000"', DIGITS),
    "nineteen_places": ("too_many_digits", '"0.1000000000000000000"', DIGITS),
    "minus_one": ("not_positive", '"-1"', POSITIVE),
}
FORBIDDEN_ID_CHARACTERS = [
    " ", "/", "\\\\", '\\"', "'", "\\n", "\\t", "\\u0000", "é", "\U0001f600", "[", "]", "#", "%",
    "+", "=", ",", ";", "<", ">", "*", "?", "!", "$", "&", "(", ")", "|", "~", "\\u2028",
]  # fmt: skip


def _replace(document: Any, path: tuple[Any, ...], marker: str) -> Any:
    if not path:
        return marker
    copy = dict(document) if isinstance(document, dict) else list(document)
    copy[path[0]] = _replace(copy[path[0]], path[1:], marker)
    return copy


def _with_value(command: str, path: tuple[Any, ...], json_value: str) -> bytes:
    """A valid command with the value at `path` replaced by raw JSON text."""
    marker = "@@HOSTILE@@"
    text = _line(_replace(VALID[command], path, marker)).decode("utf-8")
    return text.replace(f'"{marker}"', json_value).encode("utf-8")


def _field_name(path: tuple[Any, ...]) -> str:
    return "_".join(str(part) for part in path)


def _case(name: str, category: str, line: bytes, reason: str) -> Case:
    return Case(name, category, line, reason, "open", "generated")


INVALID_UTF8 = [b"\x80", b"\xbf", b"\xc3", b"\xe2\x82", b"\xf0\x9f\x98", b"\xf8\x88\x80\x80\x80", b"\xfe", b"\xc1\xbf"]  # fmt: skip


def generated() -> Iterator[Case]:
    """Families of cases built from VALID, one hostile value at a time."""
    for command, path in DECIMAL_FIELDS:
        for form, (category, json_value, reason) in HOSTILE_DECIMALS.items():
            line = _with_value(command, path, json_value)
            yield _case(f"{command}_{_field_name(path)}_{form}", category, line, reason)
    for field in ("id", "account"):
        for number, character in enumerate(FORBIDDEN_ID_CHARACTERS):
            line = _with_value("deposit", (field,), f'"ali{character}ce"')
            name = f"deposit_{field}_with_forbidden_character_{number}"
            yield _case(name, "bad_identifier", line, f"{field} {PATTERN}")
    for command, document in VALID.items():
        for field in [key for key in document if key != "type"]:
            missing = {key: value for key, value in document.items() if key != field}
            yield _case(
                f"{command}_without_{field}", "missing_field", _line(missing), f"{MISSING} {field}"
            )
        unknown = _line({**document, "surplus": "1"})
        yield _case(
            f"{command}_with_an_unknown_field", "unknown_field", unknown, f"{UNKNOWN_FIELD} surplus"
        )
        repeated = _line(document)[:-1] + b',"id":"x-2"}'
        yield _case(
            f"{command}_with_its_id_twice", "duplicate_key", repeated, f"{DUPLICATE_KEY} 'id'"
        )
    for depth in (17, 64, 1_000, 1_000_000 // 2 - 1):
        line = b"[" * depth + b"]" * depth
        yield _case(f"arrays_nested_{depth}_deep", "over_bound", line, DEPTH)
    for number, bad in enumerate(INVALID_UTF8):
        line = _line(VALID["deposit"]).replace(b"alice", b"ali" + bad + b"ce")
        yield _case(f"account_with_invalid_utf8_{number}", "invalid_utf8", line, UTF8)


def cases() -> list[Case]:
    everything = [*HAND, *generated()]
    names = [case.name for case in everything]
    duplicates = {name for name in names if names.count(name) > 1}
    if duplicates:
        raise ValueError(f"corpus case names must be unique: {sorted(duplicates)}")
    return everything
