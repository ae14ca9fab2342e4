"""What the targets share: the errors that may escape, a bound on memory per input, the
chunking of a stream by the fuzzer's data, and the seeds' option bytes.

A target reads its options with ``FuzzedDataProvider.ConsumeIntInRange`` (which takes one
byte from the *end* of the input for ranges under 256) and the stream it feeds with
``ConsumeBytes`` (from the *front*). A seed is therefore the stream followed by the option
bytes in reverse order of use (``options``), and mutations of either half stay meaningful.
"""

from __future__ import annotations

import contextlib
import functools
import resource
from collections.abc import Callable, Iterator

import atheris

from protocol import ProtocolError

#: Address space one input may add to what the process holds when it starts: an input that
#: needs more is a finding (MemoryError escapes), however briefly it holds the memory, which
#: -rss_limit_mb (sampled once a second) would miss. Resident memory per input stays far
#: lower; the largest reservation is FFmpeg's H.264 decoder, whose threads' stacks and malloc
#: arenas count here (at 16 MB its threads could not start).
HEADROOM = 64 << 20


def _limit_address_space() -> None:
    """Let this input's allocations add at most HEADROOM to the address space in use."""
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[0])
    resource.setrlimit(resource.RLIMIT_AS, (pages * _PAGE + HEADROOM, _HARD_LIMIT))


_PAGE = resource.getpagesize()
_, _HARD_LIMIT = resource.getrlimit(resource.RLIMIT_AS)


def target(body: Callable[[atheris.FuzzedDataProvider], None]) -> Callable[[bytes], None]:
    """A libFuzzer entry point around ``body``: ProtocolError (the errors protocol documents)
    is an accepted outcome, anything else escapes and is a finding."""

    @functools.wraps(body)
    def test_one_input(data: bytes) -> None:
        _limit_address_space()
        with contextlib.suppress(ProtocolError):
            body(atheris.FuzzedDataProvider(data))

    return test_one_input


def chunks(fdp: atheris.FuzzedDataProvider) -> Iterator[bytes]:
    """The rest of the input as the network might deliver it: each piece's size is one byte
    from the end (0: everything left), its bytes come from the front."""
    while fdp.remaining_bytes():
        size = fdp.ConsumeIntInRange(0, 255) or fdp.remaining_bytes()
        piece = fdp.ConsumeBytes(size)
        if piece:
            yield piece


def options(*values: int) -> bytes:
    """The option bytes of a seed: ``values`` are what the target's ConsumeIntInRange calls
    return, in order, each with a range starting at 0 and under 256."""
    return bytes(reversed(values))


def whole(stream: bytes, *values: int) -> bytes:
    """A seed: ``values`` for the options, then ``stream`` delivered in one piece."""
    return stream + options(*values, 0)
