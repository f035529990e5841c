"""The JSON value scanner on its own: bytes in, complete values out, each byte scanned once."""

import pytest

from callcenter.net.lines import LineReceiver
from callcenter.net.scanner import ValueScanner


def scan(*chunks, max_length=100):
    scanner = ValueScanner(max_length)
    found = []
    for chunk in chunks:
        scanner.feed(chunk)
        found.extend(scanner.values())
    return found, scanner


def test_values_back_to_back_and_apart_come_out_whole_and_in_order():
    found, scanner = scan(b'{"a": 1}{"b": [2, {"c": 3}]}  "s" 42 }')
    assert found == [
        (b'{"a": 1}', False),
        (b'{"b": [2, {"c": 3}]}', False),
        (b'"s"', False),
        (b"42", False),
        (b"}", False),  # a stray closer: a value of its own, which the decoder refuses
    ]
    assert scanner.buffer == b""


def test_strings_with_braces_quotes_and_escapes_do_not_end_a_value_early():
    tricky = b'{"id": "}{\\"\\\\", "note": "[{"}'
    found, scanner = scan(*[tricky[index : index + 1] for index in range(len(tricky))])
    assert found == [(tricky, False)]
    assert scanner.scanned_total <= len(tricky)  # one byte at a time, none scanned twice (escaped ones skipped)


def test_an_open_value_is_kept_until_it_ends_and_a_bare_token_until_whitespace():
    found, scanner = scan(b'{"a": ', b"12")
    assert found == [] and scanner.buffer == b'{"a": 12'
    found, scanner = scan(b"12", b"34")
    assert found == [] and scanner.buffer == b"1234"
    scanner.feed(b" ")
    assert scanner.values() == [(b"1234", False)]


def test_garbage_is_open_until_the_newline_takes_it_whatever_follows():
    found, scanner = scan(b'#x y {"a": 1} "s" 42', b" more")
    assert found == [] and scanner.buffer == b'#x y {"a": 1} "s" 42 more'
    assert scanner.take() == (b'#x y {"a": 1} "s" 42 more', False)
    found, _ = scan(b'{"a": 1} #x {"b": 2}')
    assert found == [(b'{"a": 1}', False)]  # after a value: the rest of the line, as the line decoder has it


def test_a_newline_takes_the_open_value_and_the_scanner_starts_afresh():
    _, scanner = scan(b'{"a": "x')
    assert scanner.take() == (b'{"a": "x', False)
    scanner.feed(b'{"b": 1}')
    assert scanner.values() == [(b'{"b": 1}', False)]  # not inside a string any more


def test_an_over_long_value_is_reported_once_and_dropped_to_its_end():
    found, scanner = scan(b'{"a": "' + b"x" * 20, b"y" * 20, b'"}{"b": 1}', max_length=16)
    assert found == [(b'{"a": "' + b"x" * 9, True), (b'{"b": 1}', False)]
    assert not scanner.dropping and scanner.buffer == b""
    found, scanner = scan(b'{"a": "' + b"x" * 20, max_length=16)
    assert scanner.dropping and scanner.take() == (b"", True)


@pytest.mark.parametrize("split", range(1, 30))
def test_any_split_gives_the_same_values(split):
    data = b'{"command": "call", "id": "1"} {"command": "status"}"x"'
    whole, _ = scan(data)
    assert scan(data[:split], data[split:])[0] == whole


def test_the_line_receiver_refuses_raw_mode_which_it_does_not_honour():
    with pytest.raises(NotImplementedError):
        LineReceiver().setRawMode()
