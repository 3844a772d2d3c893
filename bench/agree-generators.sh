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
# Issue #20's W5 (records produced into librdkafka's mock cluster): `--kafka`.
for round in 1 2; do
  for point in "18000 10000 10000" "10000 1000 20000" "10000 1000 40000"; do
    set -- $point
    echo "== W5 round $round: $1 connections / $2 keys, $3 records/s"
    timeout 300 target/release/sluice-rawgen --kafka --sluice-bin target/release/sluice --connections $1 --subjects $2 --rate $3 --seconds 10 2>&1 | grep rawgen
    timeout 300 target/release/sluice-bench --sluice-bin target/release/sluice --out target/agree --scenarios kafka --connections $1 --subjects $2 --rate $3 --seconds 10 2>&1 | grep -A2 "^| conns" | tail -1
  done
done
