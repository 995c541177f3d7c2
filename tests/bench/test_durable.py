"""The durable benchmark's arithmetic and tables, on made-up polls and /proc texts."""

import argparse
import math
from dataclasses import replace

import pytest

from bench.durable import (
    STORES,
    Accept,
    Counts,
    Drain,
    Footprint,
    StoreResult,
    accept_table,
    backlog_table,
    cpu_percent,
    cpu_share,
    drain_stats,
    drain_table,
    fill_rate,
    interpretations,
    parse_children,
    parse_cpu_ticks,
    parse_vm_rss,
    ratio_lines,
    report,
    time_to_reach,
    value_at,
)
from bench.stats import WrkResult

STATUS = """\
Name:\tpython
Umask:\t0022
State:\tS (sleeping)
Pid:\t4242
VmPeak:\t  812344 kB
VmSize:\t  811000 kB
VmHWM:\t   70120 kB
VmRSS:\t   65536 kB
RssAnon:\t   50000 kB
Threads:\t3
"""


def test_vm_rss_is_read_in_bytes_and_a_zombie_has_none():
    assert parse_vm_rss(STATUS) == 65536 * 1024
    assert parse_vm_rss("Name:\tpython\nState:\tZ (zombie)\n") == 0


def test_an_unknown_vm_rss_unit_is_refused():
    with pytest.raises(ValueError, match="unit"):
        parse_vm_rss("VmRSS:\t 12 GB\n")


def test_children_of_every_thread_are_collected():
    assert parse_children(["101 102 ", "", "103\n"]) == [101, 102, 103]


def test_cpu_ticks_survive_a_command_name_with_spaces_and_parentheses():
    # pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime
    stat = "4242 (python (x) y) S 1 4242 4242 0 -1 4194304 900 0 3 0 250 40 0 0 20 0 3 0"
    assert parse_cpu_ticks(stat) == 290
    assert cpu_percent(10.0, 10.5, 1.0) == pytest.approx(50.0)
    assert math.isnan(cpu_percent(1.0, 2.0, 0.0))


def poll(t, queued=0, sending=0, delivered=0, failed=0, cpu=math.nan):
    return Counts(t, queued, sending, delivered, failed, cpu)


def test_counts_read_the_outbox_answer():
    counts = Counts.of(1.5, {"counts": {"queued": 7, "sending": 2, "delivered": 10, "failed": 1}})
    assert (counts.pending, counts.stored) == (9, 20)


def test_time_to_reach_interpolates_between_polls():
    samples = [poll(0, delivered=0), poll(1, delivered=100), poll(2, delivered=300)]
    assert time_to_reach(samples, 200) == pytest.approx(1.5)
    assert time_to_reach(samples, 0) == 0
    assert time_to_reach(samples, 301) is None
    assert time_to_reach([poll(0, queued=4), poll(1, queued=8)], 6, "stored") == pytest.approx(0.5)


def test_drain_rate_skips_the_wait_for_the_first_delivery_and_the_tail():
    # 1 000 pending; nothing for 2 s (breakers open), then 200/s up to 900, then a slow tail.
    samples = [poll(0, queued=1000)]
    samples += [poll(t, queued=1000) for t in (1, 2)]
    samples += [poll(2 + n, queued=1000 - 200 * n, delivered=200 * n) for n in (1, 2, 3, 4)]
    samples += [poll(6.5, queued=100, delivered=900), poll(20, delivered=1000)]
    stats = drain_stats(samples)
    assert (stats.backlog, stats.delivered, stats.left, stats.failed) == (1000, 1000, 0, 0)
    assert stats.first_s == pytest.approx(2.005)
    assert stats.rate == pytest.approx(200.0)  # 10 % at 2.5 s, 90 % at 6.5 s
    assert stats.emptied_s == 20
    assert stats.mean_rate == pytest.approx(1000 / (20 - 2.005))


def test_cpu_is_measured_over_the_window_of_the_drain_rate():
    # The gateway idles 2 s (breakers open), then uses 0.9 s of CPU per second.
    samples = [poll(t, queued=100, cpu=10.0) for t in (0, 1, 2)]
    samples += [
        poll(2 + n, queued=100 - 25 * n, delivered=25 * n, cpu=10 + 0.9 * n) for n in (1, 2, 3, 4)
    ]
    assert value_at(samples, 2.5, "cpu") == pytest.approx(10.45)
    assert math.isnan(value_at(samples, 7, "cpu"))
    assert cpu_share(samples, 0, 2) == pytest.approx(0.0)
    stats = drain_stats(samples)
    assert stats.cpu == pytest.approx(90.0)
    assert math.isnan(stats.store_cpu)


def test_a_drain_stopped_by_its_time_limit_counts_from_the_first_poll():
    samples = [poll(0, queued=500, delivered=40), poll(1, queued=400, delivered=140)]
    samples += [poll(2, queued=300, delivered=240)]
    stats = drain_stats(samples)
    assert (stats.delivered, stats.left, stats.emptied_s) == (200, 300, None)
    assert stats.rate == pytest.approx(100.0)


def test_a_drain_that_delivered_nothing_has_no_rate():
    stats = drain_stats([poll(0, queued=5), poll(1, queued=5)])
    assert stats.first_s is None
    assert math.isnan(stats.rate)
    assert math.isnan(stats.mean_rate)
    assert math.isnan(drain_stats([]).rate)


def test_fill_rate_is_the_slope_between_10_and_90_percent():
    samples = [poll(t, queued=1000 * t) for t in range(11)]
    assert fill_rate(samples) == pytest.approx(1000.0)
    assert math.isnan(fill_rate([]))
    assert math.isnan(fill_rate([poll(0, queued=5)]))


def wrk(requests=10_000, seconds=10.0, non_2xx=0):
    return WrkResult(requests, seconds, non_2xx, 0, 10.0, 12.0, 15.0, 40.0, 11.0)


def result(name, accept_rate, drain_rate, *, backoff=None):
    accepted = Accept(wrk(requests=int(accept_rate * 10)), 9_000, backoff, [], False, 98.0)
    accepted.rounds = 4_321
    samples = [poll(0, queued=1000)] + [
        poll(1 + t, queued=1000 - drain_rate * t, delivered=drain_rate * t) for t in range(4)
    ]
    samples = [replace(s, cpu=0.95 * s.t) for s in samples]
    ledger = {"accepted": 301, "unique": 300, "attempts": {"200": 301, "500": 299}}
    drained = Drain(drain_stats(samples), samples, ledger, 20.0)
    fill = Accept(wrk(), 20_000, 1234, [poll(t, queued=2000 * t) for t in range(11)], True)
    if name == "redis":
        footprint = Footprint(60_000_000, 65_000_000, 66_000_000, redis_used=31_000_000)
        footprint.redis_used_idle, footprint.redis_rss, footprint.redis_aof = 1_000_000, 2, 3
    else:
        footprint = Footprint(60_000_000, 65_000_000, 66_000_000, 9_000_000, 1_000_000)
    return StoreResult(STORES[name], accepted, drained, fill, footprint, drained)


RESULTS = [
    result("sqlite-full", 2000, 100),
    result("sqlite-normal", 3000, 100),
    result("redis", 1000, 50, backoff=17),
]


def test_accept_table_has_a_row_per_store():
    table = accept_table(RESULTS).splitlines()
    assert table[0].startswith("| store | what | 202/s |")
    assert len(table) == 2 + 3
    assert table[2].startswith("| `sqlite-full` | SQLite, WAL fsynced per group commit | 2 000 |")
    assert table[4].endswith("| 98 | 9 000 | 4 321 | 17 |")


def test_drain_table_says_calls_duplicates_and_a_time_limit():
    row = drain_table(RESULTS, "drain").splitlines()[2]
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert cells[0] == "`sqlite-full`"
    assert cells[5] == "100"  # delivered/s from 10 to 90 %
    assert cells[7] == "> 20 (limit)"
    assert cells[8:11] == ["2.00", "1", "0"]  # (301 + 299) / 300 calls, 301 - 300 duplicates


def test_backlog_table_shows_the_store_and_where_it_is_kept():
    lines = backlog_table(RESULTS, 100_000).splitlines()
    assert "stored (of 100 000)" in lines[0]
    assert "20 000 (time limit)" in lines[2]
    assert "| 10.0 | 500 |" in lines[2]  # 10 MB of SQLite files for 20 000 messages
    assert "db 9.0 + WAL 1.0 MB on disk" in lines[2]
    assert "used_memory 31.0 MB (empty: 1.0)" in lines[4]
    assert "| 30.0 | 1 500 |" in lines[4]  # Redis: used_memory over the empty server's


def test_ratios_compare_with_sqlite_full():
    lines = ratio_lines(RESULTS)
    assert "accept rate sqlite-normal / sqlite-full: 1.50" in lines
    assert "accept rate redis / sqlite-full: 0.50" in lines
    assert "sqlite-full drain rate, big backlog / accept backlog: 1.00" in lines


def test_interpretation_names_the_fastest_store_and_the_cpu_limit():
    says = interpretations(RESULTS)
    assert says["accept"].startswith("Fastest to accept: `sqlite-normal` (3 000/s).")
    assert "one Python process is the limit" in says["accept"]
    assert "retry backoff" in says["backlog"]


def test_the_report_holds_every_table_and_the_plot():
    args = argparse.Namespace(
        quick=True, noise="machine 3 % busy before the run", connections=50, interval=0.25,
        redis_fsync="everysec",
        duration=2, drain_limit=5, backlog=20_000, fill_limit=10, backlog_drain_limit=5,
    )  # fmt: skip
    text = report(RESULTS, args, 61.0)
    assert text.startswith("# Durable delivery")
    assert "`python -m bench.durable --quick`" in text
    assert text.count("| `redis` |") == 4
    assert "durable.png" in text
