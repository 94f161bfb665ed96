"""Worker memory after the bench's load: `python bench/rss_report.py RESULTS_DIR [target] [workers]`.

Reads raw.jsonl (the bench's figures) and target_rss.txt (written by bench/serve_and_report.sh when each
repetition's server stopped) and prints, per repetition, each worker's resident memory and how many requests the
server had answered by then (the repetition's measured requests; warm-ups come on top).
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path


def main(results: Path, target: str = "django", workers: int = 2) -> int:
    requests: dict[int, int] = defaultdict(int)
    for line in (results / "raw.jsonl").read_text().splitlines():
        row = json.loads(line) if line.strip() else None
        if row and row["target"] == target:
            requests[row["rep"]] += int(row["requests"])
    stops = [line.split() for line in (results / "target_rss.txt").read_text().splitlines() if line.strip()]
    worst = 0.0
    print(f"Worker resident memory ({target}, {workers} workers), read as each repetition's server stopped:\n")
    print("| repetition | requests answered (all workers) | worker RSS MB |")
    print("|---:|---:|---|")
    for rep, start in zip(sorted(requests), range(0, len(stops), workers), strict=False):
        rss = [int(kb) / 1024 for _, _, kb in stops[start : start + workers]]
        worst = max([worst, *rss])
        print(f"| {rep} | {requests[rep]:,} | {', '.join(f'{mb:.0f}' for mb in rss)} |")
    print(f"\nLargest worker RSS: {worst:.0f} MB (goal: under 250 MB after 100,000 requests).")
    return 0


if __name__ == "__main__":
    args = sys.argv[1:]
    sys.exit(main(Path(args[0]), *(args[1:2]), *(int(a) for a in args[2:3])))
