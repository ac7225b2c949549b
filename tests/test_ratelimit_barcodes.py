"""The shared rate limiter (with an injected clock) and barcode normalisation."""
from __future__ import annotations

import threading

import pytest

from core.discogs.barcodes import gs1_check_digit, normalise_barcode, same_barcode, search_forms, upce_to_upca
from core.discogs.ratelimit import RateLimiter


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0
        self.lock = threading.Lock()

    def __call__(self) -> float:
        return self.t

    def sleep(self, s: float) -> None:
        with self.lock:
            self.t += s


def test_never_more_than_limit_in_any_window():
    clock = FakeClock()
    lim = RateLimiter(limit=60, window=60.0, clock=clock, sleep=clock.sleep)
    times = []
    for _ in range(200):
        lim.acquire()
        times.append(clock())
    # every window of 60 s holds at most 60 sends
    for i, t in enumerate(times):
        assert sum(1 for u in times[i:] if u < t + 60.0) <= 60
    # and it is not slower than needed: 200 requests need 3 full windows after the first burst
    assert times[59] == times[0]
    assert times[60] == pytest.approx(times[0] + 60.0)
    assert times[-1] == pytest.approx(times[0] + 180.0)


def test_server_reported_use_is_respected():
    clock = FakeClock()
    lim = RateLimiter(limit=60, window=60.0, clock=clock, sleep=clock.sleep)
    lim.acquire()
    lim.update(limit=60, used=59, remaining=1)   # another process used the same token
    assert lim.in_window == 59
    lim.acquire()
    start = clock()
    lim.acquire()                                 # the 61st in this window must wait for it to roll
    assert clock() - start == pytest.approx(60.0)


def test_a_slow_answer_is_not_mistaken_for_someone_elses_use():
    """The server counts ``used`` when a request arrives. By the time a slow answer is in, the oldest of our own
    requests may have left our window: they must not come back as phantom "someone else's" requests, each
    blocking a slot for a whole extra window."""
    clock = FakeClock()
    lim = RateLimiter(limit=3, window=10.0, clock=clock, sleep=clock.sleep)
    for _ in range(3):                      # sent and answered at 1000, 1001, 1002
        lim.settle(lim.acquire())
        clock.t += 1.0
    clock.t = 1010.5                        # 1000 has left the window
    cell = lim.acquire()
    sent = cell[0]
    clock.t = 1011.5                        # a slow answer: meanwhile 1001 left our window too
    lim.settle(cell)
    lim.update(limit=3, used=3, remaining=0, sent_at=sent)   # what the server counted on arrival: 1001, 1002, this
    assert lim.in_window == 2               # 1002 and this one: no phantom
    lim.acquire()                           # when 1002 rolls out
    lim.acquire()                           # and at once: a phantom would make this one wait until 1021.5
    assert clock() == pytest.approx(1012.0)


def test_remaining_zero_blocks_until_the_window_rolls():
    clock = FakeClock()
    lim = RateLimiter(limit=60, window=60.0, clock=clock, sleep=clock.sleep)
    lim.acquire()
    lim.update(limit=60, used=1, remaining=0)
    start = clock()
    lim.acquire()
    assert clock() - start == pytest.approx(60.0)


def test_block_for_after_429():
    clock = FakeClock()
    lim = RateLimiter(limit=60, window=60.0, clock=clock, sleep=clock.sleep)
    lim.block_for(7.5)
    start = clock()
    lim.acquire()
    assert clock() - start == pytest.approx(7.5)


def test_shared_across_threads_real_clock():
    lim = RateLimiter(limit=10, window=0.5)
    stamps: list[float] = []
    lock = threading.Lock()

    def work():
        for _ in range(5):
            lim.acquire()
            with lock:
                stamps.append(lim.clock())

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stamps.sort()
    assert len(stamps) == 20
    for i, t in enumerate(stamps):
        assert sum(1 for u in stamps[i:] if u < t + 0.5 - 1e-3) <= 10


@pytest.mark.parametrize("raw,expected", [
    ("5012394144777", "5012394144777"),           # EAN-13
    ("5 012394 144777", "5012394144777"),         # spaces, as Discogs stores them
    ("5-012394-144777", "5012394144777"),         # dashes
    ("075678164125", "075678164125"),             # UPC-A
    ("0075678164125", "075678164125"),            # EAN-13 form of a UPC-A
    ("75678164125", "075678164125"),              # UPC-A missing its leading zero
    ("96385074", "96385074"),                     # EAN-8
    ("04252614", "042100005264"),                 # UPC-E expands to UPC-A
])
def test_normalise_valid(raw, expected):
    assert normalise_barcode(raw) == expected


@pytest.mark.parametrize("raw", ["5012394144778", "12345", "", "abc", "0756781641251234"])
def test_normalise_rejects_misreads(raw):
    assert normalise_barcode(raw) is None


def test_check_digit_and_forms():
    assert gs1_check_digit("501239414477") == 7
    assert upce_to_upca("04252614") == "042100005264"
    assert search_forms("075678164125") == ["075678164125", "0075678164125"]
    assert same_barcode("0 75678 16412 5", "0075678164125")
    assert not same_barcode("5012394144777", "5012394144784")
