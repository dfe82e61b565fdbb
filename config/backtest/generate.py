#!/usr/bin/env python3
"""Regenerates the `slod backtest` example inputs in this folder (deterministic, no randomness).

Each CSV has the header `minute,good,total`, one row per minute with events. See docs/slo.md,
"Backtest examples", for what each one shows and why the policy answers as it does.
"""
from datetime import datetime, timedelta, timezone

START = datetime(2026, 1, 5, tzinfo=timezone.utc)


def write(name, rows):
    with open(f"{name}.csv", "w") as f:
        f.write("minute,good,total\n")
        for minute, good, total in rows:
            t = (START + timedelta(minutes=minute)).strftime("%Y-%m-%dT%H:%M:%SZ")
            f.write(f"{t},{good},{total}\n")


def steady(minutes, rps_min, bad_at):
    """`rps_min` requests a minute; `bad_at(minute)` gives the failed ones."""
    return [(m, rps_min - bad_at(m), rps_min) for m in range(minutes)]


# A short sharp outage: 1,000 requests a minute for 12 h; every request fails 06:00-06:10.
write("sharp-outage", steady(12 * 60, 1000, lambda m: 1000 if 360 <= m < 370 else 0))

# A slow burn: one clean day, then 0.3 % of requests fail (3x the 0.1 % budget rate) for 36 h.
write("slow-burn", steady(60 * 60, 1000, lambda m: 3 if m >= 24 * 60 else 0))

# A low-traffic function: one request every 6 minutes. One failure at 02:00 (must not page),
# then a total outage 08:00-09:00 (must page).
low = []
for m in range(0, 12 * 60, 6):
    failed = m == 120 or 480 <= m < 540
    low.append((m, 0 if failed else 1, 1))
write("low-traffic", low)

# A recovery: 20 % of requests fail 10:00-10:30, then the service recovers fully.
write("recovery", steady(16 * 60, 1000, lambda m: 200 if 600 <= m < 630 else 0))
