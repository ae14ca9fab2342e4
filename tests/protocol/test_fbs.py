"""protocol.fbs: the FBS 001.000 file format, against bytes worked out by hand from
rfbproxy's description (length, data, zero padding to 4, timestamp; big-endian)."""

from __future__ import annotations

import pytest

from protocol import BGRX, NEED_DATA, ServerInit
from protocol.fbs import HEADER, Block, FbsError, FbsReader, block, read_blocks, start_stream


def test_a_block_is_length_data_padding_then_milliseconds():
    assert block(b"abcde", 258) == (
        b"\x00\x00\x00\x05" + b"abcde" + b"\x00\x00\x00" + b"\x00\x00\x01\x02"
    )
    assert block(b"abcd", 0) == b"\x00\x00\x00\x04abcd\x00\x00\x00\x00"
    assert block(b"", 7) == b"\x00\x00\x00\x00\x00\x00\x00\x07"


def test_the_stream_starts_as_an_rfb_3_3_server_without_authentication():
    _, start = start_stream(ServerInit(640, 480, BGRX, "desk"))
    assert start[:12] == b"RFB 003.003\n"
    assert start[12:16] == b"\x00\x00\x00\x01"  # 7.2.1 (3.3): security type None, a U32
    assert start[16:20] == b"\x02\x80\x01\xe0"  # 640x480
    assert start[20:36] == bytes([32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0, 0, 0, 0])
    assert start[36:] == b"\x00\x00\x00\x04desk"


def file_of(*blocks: tuple[bytes, int]) -> bytes:
    return HEADER + b"".join(block(data, ms) for data, ms in blocks)


def test_blocks_come_back_whatever_the_pieces():
    data = file_of((b"one", 0), (b"four", 10), (b"seven!!", 10), (b"", 20))
    expected = [Block(b"one", 0), Block(b"four", 10), Block(b"seven!!", 10), Block(b"", 20)]
    assert list(read_blocks([data])) == expected
    assert list(read_blocks([data[i : i + 1] for i in range(len(data))])) == expected


def test_the_reader_waits_for_more_until_told_the_file_ended():
    reader = FbsReader()
    reader.receive_data(file_of((b"abc", 5))[:-2])
    assert reader.next_block() is NEED_DATA
    reader.receive_data(b"")
    with pytest.raises(FbsError, match=r"truncated: block 1 at byte 12: 3 bytes of data"):
        reader.next_block()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", r"truncated: the file header needs 12 bytes, the file ends after 0"),
        (b"RFB 003.008\n", r"not an FBS 001.000 file: it starts with b'RFB 003.008\\n'"),
        (b"FBS 001.001\n", r"not an FBS 001.000 file"),
        (HEADER + b"\x00\x00", r"truncated: block 1 at byte 12: its length needs 4 bytes"),
        (file_of((b"x", 9)) + b"\x00\x00\x00\x02ab", r"block 2 at byte 24: 2 bytes of data"),
        (file_of((b"x", 9), (b"y", 8)), r"block 2 at byte 24: timestamp 8 ms is before .* 9 ms"),
        (HEADER + b"\xff\xff\xff\xff", r"block 1 at byte 12: length 4294967295 is over the limit"),
    ],
)
def test_damaged_files_are_errors_that_say_where(data, message):
    with pytest.raises(FbsError, match=message):
        list(read_blocks([data]))


def test_the_length_limit_is_the_callers():
    with pytest.raises(FbsError, match="length 5 is over the limit of 4"):
        list(read_blocks([file_of((b"12345", 0))], max_block=4))
