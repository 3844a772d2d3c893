#!/bin/bash
# Issue #19: the harness (sluice-bench) and an independent generator
# (sluice-rawgen) at the same W1/W3 points, alternating, two rounds, on the same
# release build (cargo build --release -p sluice -p sluice-bench first).
cd "$(dirname "$0")/.."
for round in 1 2; do
  for point in "1000 1000 20000" "1000 1000 40000" "1000 1000 60000" "2000 100 10000" "2000 100 20000"; do
    set -- $point
    echo "== round $round: $1 connections / $2 subjects, $3 publishes/s"
    timeout 120 target/release/sluice-rawgen --sluice-bin target/release/sluice --connections $1 --subjects $2 --rate $3 --seconds 10 2>&1 | grep rawgen
    timeout 300 target/release/sluice-bench --sluice-bin target/release/sluice --out target/agree --scenarios fanout --connections $1 --subjects $2 --rate $3 --seconds 10 2>&1 | grep -iE "^\| *(sluice|fanout)|deliver|p99" | head -6
  done
done
