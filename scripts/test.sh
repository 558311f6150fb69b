#!/usr/bin/env bash
# scripts/test.sh [ARGS...] — every test of the workspace, as `cargo test --workspace` runs them
# (each package's unit, integration and doc tests; ARGS go to every test binary, e.g. a filter),
# with two test binaries running at a time instead of one after another.
#
# Why: most test binaries spend their time waiting on real services (RabbitMQ, Gnocchi, Keystone,
# libvirt guests), and one after another they left this 2-core machine ~60 % idle. Test binaries
# that share something of the machine's take a lock for it (libvirtd:
# tests/libvirt_support's `MachineLock`); everything else a test starts is its own (vhosts,
# databases, ports, RabbitMQ nodes, temporary directories).
#
# Longest first: each binary's time is kept in the target directory for the next run (a binary
# not timed yet goes first). Each binary's output is printed whole when it ends, with its time;
# the exit status is 1 when any failed, after all have run.
#
# Environment: CEILO_TEST_JOBS (2) test binaries at a time; CARGO_TARGET_DIR as for cargo.
set -uo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
JOBS="${CEILO_TEST_JOBS:-2}"
command -v jq >/dev/null || { echo "scripts/test.sh needs jq (apt-get install jq)" >&2; exit 2; }
TARGET="$(cargo metadata --format-version 1 --no-deps | jq -r .target_directory)" || exit 2
TIMES="$TARGET/ceilo-test-times"
WORK="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM

# The test binaries (name as cargo prints it: the source path; directory to run in; executable).
cargo test --workspace --no-run --message-format=json-render-diagnostics > "$WORK/build.json" || exit 1
jq -r --arg root "$ROOT/" 'select(.reason == "compiler-artifact" and .profile.test and .executable != null)
      | [(.target.src_path | ltrimstr($root)), (.manifest_path | sub("/[^/]*$"; "")), .executable] | @tsv' \
  "$WORK/build.json" > "$WORK/binaries"
printf 'doc-tests\t%s\t-\n' "$ROOT" >> "$WORK/binaries"

# Longest first, by the last run's times.
declare -A took=()
if [[ -f "$TIMES" ]]; then
  while read -r name seconds; do took[$name]=$seconds; done < "$TIMES"
fi
while IFS=$'\t' read -r name dir exe; do
  printf '%s\t%s\t%s\t%s\n' "${took[$name]:-999999}" "$name" "$dir" "$exe"
done < "$WORK/binaries" | sort -t$'\t' -k1,1nr > "$WORK/queue"

declare -A name_of=() started=() log_of=()
failed=()
running=0
n=0

start() { # name dir exe
  local log="$WORK/$n.log"
  echo "    Starting $1" >&2
  if [[ $1 == doc-tests ]]; then
    (cd "$2" && exec cargo test --workspace --doc -- "${@:4}") < /dev/null > "$log" 2>&1 &
  else
    (cd "$2" && CARGO_MANIFEST_DIR="$2" exec "$3" "${@:4}") < /dev/null > "$log" 2>&1 &
  fi
  name_of[$!]="$1 ($3)"
  started[$!]=$SECONDS
  log_of[$!]=$log
  n=$((n + 1))
  running=$((running + 1))
}

reap() { # waits for one binary to end and prints its output
  local pid status seconds
  wait -n -p pid
  status=$?
  seconds=$((SECONDS - started[$pid]))
  echo "     Running ${name_of[$pid]}: ${seconds} s, exit $status"
  cat "${log_of[$pid]}"
  printf '%s %s\n' "${name_of[$pid]%% (*}" "$seconds" >> "$WORK/times"
  if ((status != 0)); then failed+=("${name_of[$pid]}"); fi
  running=$((running - 1))
}

while IFS=$'\t' read -r _ name dir exe; do
  while ((running >= JOBS)); do reap; done
  start "$name" "$dir" "$exe" "$@"
done < "$WORK/queue"
while ((running > 0)); do reap; done

# Times of this run for the next (only of a whole run: a filtered one times nothing useful).
if (($# == 0)); then cp "$WORK/times" "$TIMES"; fi
total=$(wc -l < "$WORK/binaries")
if ((${#failed[@]} > 0)); then
  printf '\n%d of %d test binaries failed:\n' "${#failed[@]}" "$total"
  printf '  %s\n' "${failed[@]}"
  exit 1
fi
printf '\nall %d test binaries passed\n' "$total"
