#!/usr/bin/env python3
"""The summary of bench/peers/compare.sh: the median over the rounds of each server's rate and
p99 per phase and concurrency, each peer's ratio to ciba-server, and the peak resident sets.

    summary.py WORK_DIR SERVER... [--peak-rss SERVER=KIB]... [--json FILE]

WORK_DIR holds roundN-SERVER.json files (ciba-load --json). The phases are ciba-load's, in its
order; the one with stages (decision → ping → tokens) is compared by p99, the others by rate.
"""

import argparse
import json
import pathlib
import re
import statistics

def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("work")
    parser.add_argument("servers", nargs="+")
    parser.add_argument("--peak-rss", action="append", default=[], metavar="SERVER=KIB")
    parser.add_argument("--json")
    args = parser.parse_args()
    rss = {k: int(v or 0) for k, _, v in (p.partition("=") for p in args.peak_rss)}
    work = pathlib.Path(args.work)

    rows = []
    for path in sorted(work.glob("round*-*.json")):
        round_no = int(re.match(r"round(\d+)-", path.name).group(1))
        for row in json.loads(path.read_text()):
            row["round"] = round_no
            rows.append(row)
    phases = list(dict.fromkeys(r["phase"] for r in rows))
    by_p99 = {r["phase"] for r in rows if r.get("stages_ms")}

    def cell(server, phase, clients, key):
        values = [r[key] for r in rows
                  if r["label"] == server and r["phase"] == phase and r["concurrency"] == clients]
        return statistics.median(values) if values else None

    rounds = max((r["round"] for r in rows), default=0)
    clients_seen = sorted({r["concurrency"] for r in rows})
    base = args.servers[0]
    header = ["phase", "clients"]
    for server in args.servers:
        header.append(server)
        if server != base:
            header.append(f"{base} ÷ {server}")
    print()
    print(f"Median of {rounds} round(s); rate (p99 latency). The ratio is {base}'s rate over the "
          f"peer's (for {', '.join(sorted(by_p99)) or 'no phase'}: the peer's p99 over {base}'s).")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    medians = []
    for phase in phases:
        for clients in clients_seen:
            line = [phase, str(clients)]
            ours = (cell(base, phase, clients, "rate_per_s"), cell(base, phase, clients, "p99_ms"))
            for server in args.servers:
                rate, p99 = cell(server, phase, clients, "rate_per_s"), cell(server, phase, clients, "p99_ms")
                if rate is None:
                    line.append("—")
                    if server != base:
                        line.append("—")
                    continue
                medians.append({"server": server, "phase": phase, "concurrency": clients,
                                "rate_per_s": rate, "p99_ms": p99})
                line.append(f"{rate:,.0f}/s ({p99:.1f} ms)".replace(",", " "))
                if server != base:
                    if phase in by_p99 and ours[1]:
                        line.append(f"{p99 / ours[1]:.1f}× faster p99")
                    elif ours[0] and rate:
                        line.append(f"{ours[0] / rate:.1f}×")
                    else:
                        line.append("—")
            print("| " + " | ".join(line) + " |")
    print()
    print("Peak resident set (VmHWM) of each server over the run: "
          + ", ".join(f"{s} {rss.get(s, 0) / 1024:.0f} MiB" for s in args.servers))
    others = [r for r in rows if r.get("other")]
    for r in others:
        print(f"note: {r['label']} round {r['round']} {r['phase']} at {r['concurrency']}: "
              f"{r['other']} answers other than the expected")
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(
            {"rounds": rows, "medians": medians, "vm_hwm_kib": rss}, indent=2, ensure_ascii=False))
        print(f"(results also in {args.json})")


if __name__ == "__main__":
    main()
