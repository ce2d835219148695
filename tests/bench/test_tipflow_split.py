"""How the tip flow divides a sale's paid -> completed time (bench/tipflow.py): the time at least one
request was inside the fake Blink, counted once when requests overlap, within the sale's window."""

from __future__ import annotations

import pytest

from bench.tipflow import provider_ms


def _r(arrived: float, at: float) -> dict[str, float]:
    return {"arrived": arrived, "at": at}


def test_concurrent_requests_count_once_and_sequential_ones_add_up() -> None:
    creates = [_r(10.0, 10.105), _r(10.001, 10.108), _r(10.002, 10.11)]  # overlapping: 10.000..10.110
    sends = [_r(10.12, 10.225), _r(10.226, 10.33)]
    assert provider_ms(creates + sends, 9.9, 11.0) == pytest.approx(110 + 105 + 104)


def test_only_the_part_inside_the_window_counts() -> None:
    requests = [_r(9.0, 9.5), _r(9.95, 10.05), _r(10.2, 10.3), _r(10.45, 10.6), _r(11.0, 11.2)]
    # before the window, straddling its start (50 ms inside), inside (100), straddling its end (50), after
    assert provider_ms(requests, 10.0, 10.5) == pytest.approx(50 + 100 + 50)


def test_no_request_no_provider_time() -> None:
    assert provider_ms([], 10.0, 10.5) == 0.0
    assert provider_ms([_r(10.6, 10.7)], 10.0, 10.5) == 0.0
