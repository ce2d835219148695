"""Time the dashboard's reads with the real code: ``python -m bench.dashq [MERCHANT_ID]`` (stack env).

Prints JSON {query: median ms over 5 runs after one warm-up}. Statistics: the operators' page
(payment_statistics view today / last 14 days, the rolling-24 h aggregate, active payments) and the
merchant dashboard's daily totals and tips by staff; top recipients: the top_tip_recipients view.
The merchant reads use MERCHANT_ID, by default the generated history's merchant (``histcafe``, 1 % of
all splits, with tip legs), i.e. a merchant with real volume, not the bench's fresh one.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any


def _time(fn: Callable[[], Any], repeat: int = 5) -> float:
    fn()
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    return round(statistics.median(samples), 2)


def main(merchant_id: int | None = None) -> dict[str, float]:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "blinkpos.settings.dev")
    import django

    django.setup()
    from analytics import merchant_reports, platform_statistics
    from bench.growth import HISTORY_MERCHANT
    from payments.models import Merchant

    if merchant_id is None:
        merchant = Merchant.objects.get(blink_username=HISTORY_MERCHANT)
    else:
        merchant = Merchant.objects.get(pk=merchant_id)
    return {
        "statistics: today (payment_statistics view)": _time(platform_statistics.statistics_today),
        "statistics: 14-day series (payment_statistics view)": _time(platform_statistics.daily_series),
        "statistics: rolling 24 h aggregate": _time(platform_statistics.statistics_24h),
        "statistics: active payments": _time(platform_statistics.active_payments),
        "statistics: merchant daily totals (14 d)": _time(lambda: merchant_reports.daily_totals(merchant=merchant)),
        "top recipients: top_tip_recipients view": _time(platform_statistics.top_tip_recipients),
        "top recipients: merchant tips by staff": _time(lambda: merchant_reports.tips_by_staff(merchant=merchant)),
    }


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]) if len(sys.argv) > 1 else None)))
