"""Asterisk's names for the call center's things (core/asterisk.py)."""

from callcenter.core.asterisk import call_of_channel, operator_named, uniqueid


def test_naming_helpers():
    assert operator_named("Agent/A") == "A" and operator_named("A") == "A" and operator_named("PJSIP/a/b") == "a/b"
    assert call_of_channel("Local/7@callcenter") == "7" and call_of_channel("SIP/7") is None
    assert uniqueid("a|b", 12.9) == "12.a_b"
