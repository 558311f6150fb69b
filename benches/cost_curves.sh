#!/usr/bin/env bash
# benches/cost_curves.sh — how the cost of a notification grows with work (issue 23, item 6):
# instructions per notification against the body's size and against the number of meter
# definitions, counted by callgrind in benches/per_notification.rs (decode, convert, write the
# signed meter and event messages; no broker, no actors: benches/instructions.sh measures the
# whole agent). Each point is the slope between two counts, so one-off work (loading, the first
# lookup of an event type) is left out. valgrind does not emulate SHA-NI, so HMAC-SHA256 counts
# in software: it is reported apart (`sha256`).
#
# Writes OUT/curves.tsv and OUT/curves.md (the table) and, with python3 and matplotlib (installed
# into a venv under target/ on first use), benches/cost_curves.png.
#
# Environment:
#   SMALL=50 LARGE=250          the two counts of each point
#   OUT=target/cost-curves      callgrind files, the table
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
SMALL="${SMALL:-50}"
LARGE="${LARGE:-250}"
OUT="${OUT:-$ROOT/target/cost-curves}"
TARGET="$(cargo metadata --format-version 1 --no-deps | jq -r .target_directory)"
command -v valgrind >/dev/null || { echo "valgrind is needed" >&2; exit 1; }
mkdir -p "$OUT"
bin="$(cargo bench --bench per_notification --no-run --message-format=json 2>/dev/null |
    jq -r 'select(.executable != null and .target.name == "per_notification") | .executable')"

# COUNT ARGS... -> "total sha256" instructions of process() over COUNT notifications
count() {
    local n="$1" file="$OUT/run.cg"
    shift
    valgrind --tool=callgrind --toggle-collect='per_notification::process' \
        --callgrind-out-file="$file" "$bin" --count "$n" "$@" >"$OUT/run.out" 2>"$OUT/run.log"
    local report total sha
    report="$(callgrind_annotate --inclusive=yes "$file" 2>/dev/null)"
    total="$(awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }' <<<"$report")"
    sha="$(awk '/sha2::sha256::soft::compress \[/ { gsub(",", "", $1); print $1; exit }' <<<"$report")"
    echo "$total ${sha:-0}"
}

# SERIES X ARGS... -> a row of curves.tsv: series, x, bytes, instructions, sha256 (per notification)
point() {
    local series="$1" x="$2"
    shift 2
    read -r small small_sha < <(count "$SMALL" "$@")
    read -r large large_sha < <(count "$LARGE" "$@")
    local bytes
    bytes="$(sed -n 's/.* notifications of \([0-9]*\) B.*/\1/p' "$OUT/run.out")"
    local d=$((LARGE - SMALL))
    printf '%s\t%s\t%s\t%d\t%d\n' "$series" "$x" "$bytes" $(((large - small) / d)) \
        $(((large_sha - small_sha) / d)) | tee -a "$OUT/curves.tsv"
}

printf 'series\tx\tbody_bytes\tinstructions\tsha256\n' >"$OUT/curves.tsv"
# Body size: the same event type, padded as loadgen pads (`--size`: a `notes` text in the
# payload). l3.meter's meter has no `metadata:`, so its samples carry the whole payload;
# nova's meters pick their metadata, so the padding is only read.
for size in 500 2500 10000 50000; do
    point "l3.meter, all" "$size" --mix neutron-l3-meter --size "$size"
    point "l3.meter, decode only" "$size" --mix neutron-l3-meter --size "$size" --stage decode
done
for size in natural 10000 50000; do
    point "compute.instance.create.end, all" "$size" --mix nova-create-end --size "$size"
    point "compute.instance.create.end, decode only" "$size" --mix nova-create-end --size "$size" --stage decode
done
# Meter definitions: the shipped ones plus others no notification matches.
shipped="$(grep -c '^  - name:' config/meters.d/meters.yaml)"
for extra in 0 "$shipped" $((10 * shipped)) $((100 * shipped)); do
    defs=$((shipped + extra))
    point "nova-*, all" "$defs" --extra-meters "$extra"
    point "unmatched event type, converted" "$defs" --extra-meters "$extra" --event-type unmatched.thing --stage convert
    point "unmatched event type, decode only" "$defs" --extra-meters "$extra" --event-type unmatched.thing --stage decode
done

{
    echo "| series | x | body | instructions per notification | of which HMAC-SHA256 (software) |"
    echo "|---|---|---|---|---|"
    tail -n +2 "$OUT/curves.tsv" | awk -F'\t' '{ printf "| %s | %s | %d B | %d | %d |\n", $1, $2, $3, $4, $5 }'
} >"$OUT/curves.md"
cat "$OUT/curves.md"

venv="$TARGET/plot-venv"
if [[ ! -x "$venv/bin/python" ]] || ! "$venv/bin/python" -c 'import matplotlib' 2>/dev/null; then
    python3 -m venv "$venv" && "$venv/bin/pip" install -q matplotlib
fi
"$venv/bin/python" benches/cost_curves.py "$OUT/curves.tsv" benches/cost_curves.png
