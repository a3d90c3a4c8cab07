"""The thread chooser's logic, fed synthetic segment timings (nothing here is timed)."""

import math
import warnings

import numpy as np
import pytest

from fastnn._threads import ThreadChooser

SEG = ThreadChooser.SEGMENT_SECONDS


def _run(c, rate, segments, batch=32, noise=None):
    """``segments`` segments sized as an epoch sizes them (``segment_batches``), each at
    ``rate[n]`` rows/s (times ``noise()`` when given); the (count, seconds) of each."""
    used = []
    for _ in range(segments):
        n = c.next()
        rows = c.segment_batches(batch) * batch
        seconds = rows / rate[n] * (noise() if noise else 1.0)
        c.record(n, rows, seconds, batch)
        used.append((n, seconds))
    return used


def _counts(used):
    return [n for n, _ in used]


def _choose(c, rate, batch=32):
    """Segments until every count was timed and one chosen; the counts used."""
    used = _run(c, rate, 1, batch)
    while c._queue:
        used += _run(c, rate, 1, batch)
    return _counts(used)


def test_keeps_the_faster_count_timing_the_first_candidate_twice():
    c = ThreadChooser(2, 32)
    assert c.candidates == [2, 1] and ThreadChooser(8).candidates == [8, 4, 1]
    assert ThreadChooser(1).next() == 1
    c.record(2, 4096, 4096 / 10_000, 32)          # a cold first segment: slower than 1 thread
    used = _choose(c, {2: 40_000, 1: 20_000})
    # 1 thread's segment, sized at the cold rate, lasts 25.6 ms (at least MIN_MEASURE); 2
    # threads' segments at that size last 12.8 ms: two of them make its measurement
    assert used == [1, 2, 2] and c.current == 2 and c.next() == 2
    assert c.rates == {2: pytest.approx(40_000), 1: pytest.approx(20_000)}


def test_a_rate_is_measured_over_min_measure_seconds_not_one_short_segment():
    c = ThreadChooser(2, 32)
    _choose(c, {2: 40_000, 1: 100_000})             # 1 thread, clearly
    assert c.current == 1
    c.record(1, 3000, 0.1, 32)                       # 1 thread drifts down: time 2 threads
    assert c.next() == 2
    # an epoch's last batch, alone and untouched by the busy processes, runs 2 threads at
    # 64,000 rows/s: too short a segment to tell anything; it waits for the next one
    c.record(2, 32, 0.0005, 32)
    assert c.next() == 2 and c.rates[2] == pytest.approx(40_000)
    c.record(2, 640, 0.032, 32)                      # 20,000 rows/s over the next 32 ms
    assert c.rates[2] == pytest.approx(672 / 0.0325)
    assert c.current == 1 and c.next() == 1         # 30,000 (1 thread) against 20,700
    # segments of another count do not join a measurement
    c2 = ThreadChooser(2, 32)
    c2.record(2, 100, 0.01, 32)
    c2.record(1, 100, 0.02, 32)
    assert c2.rates == {} and c2.next() == 2


def test_drift_times_the_others_at_once():
    c = ThreadChooser(2, 32)
    _choose(c, {2: 40_000, 1: 20_000})
    assert c.current == 2
    used = _run(c, {2: 10_000, 1: 20_000}, 2)       # a neighbour takes a core: 4x slower
    assert _counts(used) == [2, 1] and c.current == 1


def test_a_clear_choice_is_checked_again_after_probe_every_segments():
    c = ThreadChooser(2, 32)
    rate = {2: 30_000, 1: 20_000}                    # 2 threads clearly faster
    _choose(c, rate)
    steady = _counts(_run(c, rate, 2 * ThreadChooser.PROBE_EVERY + 4))
    assert steady.index(1) == ThreadChooser.PROBE_EVERY
    assert steady.count(1) == 2                      # one check in PROBE_EVERY + 1 segments


def test_a_far_slower_count_costs_at_most_the_check_budget():
    # the digits beside two busy processes: 1 thread 250,000 rows/s, 2 threads 50,000; an
    # epoch of 1,797 rows (7 ms) is one segment, and a check of 2 threads costs 4 epochs
    c = ThreadChooser(2, 32)
    rate = {2: 50_000, 1: 250_000}
    used = []
    for _ in range(2000):                          # 2,000 epochs, 14 s at 1 thread
        n = c.next()
        c.record(n, 1797, 1797 / rate[n], 32)
        used.append((n, 1797 / rate[n]))
    steady = used[3 * 5:]                          # after the first choice
    at_two = sum(s for n, s in steady if n == 2)
    total = sum(s for _, s in steady)
    lost = at_two * (1 - rate[2] / rate[1])
    assert lost <= ThreadChooser.CHECK_BUDGET * total
    # still checked: never more than MAX_WAIT seconds at 1 thread between checks
    gaps, kept = [], 0.0
    for n, s in steady:
        if n == 2:
            if kept:
                gaps.append(kept)
            kept = 0.0
        else:
            kept += s
    assert gaps and max(gaps) <= ThreadChooser.MAX_WAIT + 0.01


def test_a_long_probe_makes_the_next_check_wait_longer():
    c = ThreadChooser(2, 32)
    # 2 threads ten times slower: its 50 ms segment (sized at 1 thread's rate) takes 0.5 s
    _choose(c, {2: 5_000, 1: 50_000})
    assert c.current == 1
    lost = c._timed[2] * (1 - 5_000 / 50_000)
    assert c.wait == pytest.approx(min(ThreadChooser.MAX_WAIT, lost / ThreadChooser.CHECK_BUDGET))
    assert c.wait > ThreadChooser.PROBE_EVERY * SEG


def test_a_close_call_is_checked_again_soon_then_less_often():
    c = ThreadChooser(2, 32)
    rate = {2: 22_000, 1: 20_000}                   # within CLOSE: one noisy segment each
    _choose(c, rate)
    assert c.current == 2 and c.wait == SEG
    gaps, kept = [], 0
    for n in _counts(_run(c, rate, 60)):
        if n == 1:
            gaps.append(kept)
            kept = 0
        else:
            kept += 1
    assert gaps[:5] == [1, 2, 4, 8, 16]              # 1, 2, 4... kept segments between checks
    assert c.wait == ThreadChooser.PROBE_EVERY * SEG


def test_corrects_a_choice_made_on_an_unlucky_segment():
    c = ThreadChooser(2, 32)
    _choose(c, {2: 35_000, 1: 25_000})               # 2 threads, clearly
    assert c.current == 2 and c.wait == ThreadChooser.PROBE_EVERY * SEG
    # a neighbour takes a core: 2 threads drift down to 15,400, and the segment 1 thread is
    # timed on is unlucky (14,000 where it runs 18,900)
    _run(c, {2: 15_400, 1: 14_000}, 2)
    assert c.current == 2 and c.wait == SEG         # kept, by a close call: checked soon
    used = _counts(_run(c, {2: 15_400, 1: 18_900}, 10))
    assert used[:2] == [2, 1] and c.current == 1    # the next check finds 1 thread faster
    assert used.count(2) <= 3                        # and 1 thread runs most segments


def test_does_not_time_again_a_count_far_slower_on_a_swing():
    c = ThreadChooser(2, 32)
    _choose(c, {2: 25_000, 1: 100_000})              # busy: 2 threads 4x slower than 1
    assert c.current == 1
    c.record(1, 5000, 0.1, 32)                       # 1 thread 2x slower for a while...
    assert c.next() == 1                             # ...still far above 2 threads: kept
    c.record(1, 2000, 0.1, 32)                       # below 2 threads' last rate: time it
    assert c.next() == 2


def test_ignores_segments_of_smaller_batches():
    c = ThreadChooser(2, batch_size=200)
    for n in (2, 1, 2):                              # 1 thread is faster
        c.record(n, 6000, {2: 0.1, 1: 0.05}[n], 200)
    assert c.current == 1 and c.kept == 0
    # an epoch's short last batch, timed alone, is slower per sample at any count: not drift
    c.record(1, 147, 0.03, 147)
    assert c.next() == 1 and c.kept == 0 and c.rates == {2: 60000.0, 1: 120000.0}
    c.record(1, 6000, 0.25, 200)                     # a full segment 5x slower: drift
    assert c.next() == 2


def test_segments_last_about_segment_seconds():
    c = ThreadChooser(2, batch_size=128)
    assert c.segment_batches(128) == ThreadChooser.FIRST_SEGMENT_ROWS // 128   # nothing known
    for n in (2, 1, 2):
        c.record(n, 12800, 12800 / {2: 40000, 1: 20000}[n], 128)       # samples/s
    rows = 40000 * SEG
    assert c.segment_batches(128) == -(-int(rows) // 128)
    assert c.segment_batches(10**6) == 2                                # at least 2 batches


@pytest.mark.parametrize("rate, rows, sigma", [
    ({1: 17_100, 2: 14_900}, 2048, 0.25),     # batch 32 beside two busy processes
    ({1: 250_000, 2: 48_000}, 1797, 0.25),    # the digits beside two busy processes
    ({1: 23_500, 2: 37_000}, 2048, 0.05),     # batch 32, quiet
    ({1: 360_000, 2: 370_000}, 1797, 0.05),   # the digits, quiet
])
def test_noisy_segments_keep_nearly_the_best_counts_rate(rate, rows, sigma):
    """Epochs of ``rows`` rows at batch 32, segments as run_epoch cuts them, each segment's
    time off by lognormal noise (``sigma`` over SEGMENT_SECONDS, more on shorter ones)."""
    rng = np.random.default_rng(0)

    def noisy(seconds):
        s = min(1.0, sigma * math.sqrt(SEG / seconds))
        return seconds * math.exp(rng.normal(0, s) - s * s / 2)

    c = ThreadChooser(2, 32)
    total = 0.0
    for _ in range(400):                             # epochs, as run_epoch segments them
        size = c.segment_batches(32)
        for k0 in range(0, rows // 32, size):
            n, batches = c.next(), min(size, rows // 32 - k0)
            seconds = noisy(batches * 32 / rate[n])
            c.record(n, batches * 32, seconds, 32)
            total += seconds
    best = 400 * (rows // 32) * 32 / max(rate.values())
    assert best / total >= 0.9


def test_the_decision_log(tmp_path, monkeypatch):
    log = tmp_path / "threads.log"
    monkeypatch.delenv("FASTNN_THREAD_LOG", raising=False)
    quiet = ThreadChooser(2, 32)
    _run(quiet, {2: 40_000, 1: 20_000}, 4)
    assert not log.exists()                          # nothing written without the variable
    monkeypatch.setenv("FASTNN_THREAD_LOG", str(log))
    c = ThreadChooser(2, 32)
    _run(c, {2: 30_000, 1: 20_000}, 4)
    lines = log.read_text().splitlines()
    assert len(lines) == 4
    assert "n=2" in lines[0] and "| timing" in lines[0]
    assert "n=1" in lines[1] and "rate=20000" in lines[1]
    assert "| chose 2 (1: 20000/s, 2: 30000/s), next check after 0.80 s" in lines[2]
    assert "| kept" in lines[3]
    _run(c, {2: 10_000, 1: 20_000}, 1)              # 2 threads 3x slower: drift
    assert "| drift: 2 ran 10000/s (chosen at 30000/s), time the others" in \
        log.read_text().splitlines()[-1]
    monkeypatch.setenv("FASTNN_THREAD_LOG", str(tmp_path))          # a folder: not writable
    bad = ThreadChooser(2, 32)
    with pytest.warns(RuntimeWarning, match="FASTNN_THREAD_LOG=.*cannot write"):
        _run(bad, {2: 40_000, 1: 20_000}, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")               # said once; the chooser goes on
        _run(bad, {2: 40_000, 1: 20_000}, 3)
    assert bad.current == 2
