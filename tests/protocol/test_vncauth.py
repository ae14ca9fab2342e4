"""VNC Authentication (rfbproto 7.2.2), checked against vncdotool's independent DES code."""

from __future__ import annotations

import warnings

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.security.vncauth import check_response, encrypt_challenge, password_key

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # vncdotool's cryptography import warns about TripleDES
    from vncdotool.rfb import _vnc_des, des_encrypt


def vncdotool_response(challenge: bytes, password: str) -> bytes:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return des_encrypt(_vnc_des(password), challenge)


def test_key_reverses_the_bits_of_each_byte() -> None:
    # 'a' = 0b01100001 -> 0b10000110; 'é' (Latin-1 0xE9 = 0b11101001) -> 0b10010111.
    assert password_key("a") == b"\x86" + bytes(7)
    assert password_key("é") == b"\x97" + bytes(7)
    assert password_key("") == bytes(8)


def test_key_uses_only_the_first_eight_characters() -> None:
    assert password_key("abcdefgh") == password_key("abcdefghXYZ")
    assert password_key("abcdefg") != password_key("abcdefgh")


def test_key_refuses_characters_outside_latin1() -> None:
    with pytest.raises(ValueError):
        password_key("pass€")


def test_golden_vector_from_vncdotool() -> None:
    # Computed once with vncdotool.rfb (des_encrypt(_vnc_des("secret"), challenge)).
    challenge = bytes(range(16))
    expected = bytes.fromhex("ee22539f33a5983ec12f9c2edbc995dd")
    assert encrypt_challenge(challenge, "secret") == expected
    assert vncdotool_response(challenge, "secret") == expected


@settings(max_examples=200, deadline=None)
@given(
    challenge=st.binary(min_size=16, max_size=16),
    password=st.text(st.characters(min_codepoint=1, max_codepoint=127), max_size=12),
)
def test_agrees_with_vncdotool(challenge: bytes, password: str) -> None:
    assert password_key(password) == _vnc_des(password)
    assert encrypt_challenge(challenge, password) == vncdotool_response(challenge, password)


def test_check_response_accepts_only_the_right_password() -> None:
    challenge = bytes.fromhex("00112233445566778899aabbccddeeff")
    response = encrypt_challenge(challenge, "hunter2")
    assert check_response(challenge, response, "hunter2")
    assert not check_response(challenge, response, "hunter3")
    assert not check_response(challenge, response[:-1] + bytes([response[-1] ^ 1]), "hunter2")


def test_two_passwords_can_be_told_apart() -> None:
    """The daemon's full-control vs view-only decision: try each password in turn."""
    challenge = bytes(range(0xF0, 0x100))
    full, view_only = "control!", "lookonly"
    response = encrypt_challenge(challenge, view_only)
    assert not check_response(challenge, response, full)
    assert check_response(challenge, response, view_only)


def test_challenge_must_be_sixteen_bytes() -> None:
    with pytest.raises(ValueError):
        encrypt_challenge(bytes(15), "pw")
