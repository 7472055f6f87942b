#!/usr/bin/env python3
"""Where a run's time went: reads a run's events.ndjson and prints, per phase, when builds
reached it (first, median, last, in seconds from the run's start).

    bench/timeline.py .amipub/runs/<run-id>/events.ndjson
"""
import json
import re
import statistics
import sys
from datetime import datetime


def t(s):
    return datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


def main():
    events = [json.loads(l) for l in open(sys.argv[1])]
    start = t(events[0]["at"])
    phases = {}
    for e in events:
        key = None
        if e["type"] == "step-started":
            key = "start " + e["step"]
        elif e["type"] == "note":
            key = re.sub(r"\b(ami|i|snap)-[0-9a-f]+", "<id>", e["message"])[:32]
        elif e["type"] in ("artifact", "build-finished"):
            key = e["type"]
        if key:
            phases.setdefault(key, []).append(t(e["at"]) - start)
    order = sorted(phases.items(), key=lambda kv: statistics.median(kv[1]))
    print(f"{'phase':32} {'n':>4} {'first':>7} {'median':>7} {'last':>7}")
    for k, v in order:
        print(f"{k:32} {len(v):4} {min(v):7.1f} {statistics.median(v):7.1f} {max(v):7.1f}")


if __name__ == "__main__":
    main()
