#!/usr/bin/env bash
# Fuzzes iotc-sdk's parsers of untrusted input with cargo-fuzz (libFuzzer). Not part of CI.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
#
# SECONDS per target (default 60); TARGETs default to every target of fuzz/Cargo.toml. For each
# target: replays fuzz/regressions/<target>/ (inputs that once crashed), then fuzzes for SECONDS
# starting from the seeds in fuzz/corpus/<target>/ (read only: new inputs go to
# fuzz/target/corpus/<target>/, kept between runs). A crash leaves its input in
# fuzz/artifacts/<target>/ and makes the script fail, after the other targets have run.
# A summary (executions, coverage, corpus) is printed and written to fuzz/target/fuzz-summary.md
# (or to $FUZZ_SUMMARY, relative to fuzz/, so that two runs can go side by side).
#
# Needs only the stable toolchain: cargo-fuzz uses nightly flags (-Zsanitizer=address), which
# RUSTC_BOOTSTRAP=1 unlocks. Installs cargo-fuzz from crates.io if it is missing.
# See docs/reliability.md, section "Fuzzing".
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-60}"
shift || true
case "$seconds" in
  '' | *[!0-9]*) echo "usage: scripts/fuzz.sh [SECONDS] [TARGET...]" >&2; exit 2 ;;
esac

export RUSTC_BOOTSTRAP=1
export CARGO_TERM_COLOR=never

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "=== installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

cd fuzz
if [ "$#" -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo fuzz list)
fi

echo "=== cargo fuzz build (release, debug assertions, AddressSanitizer)"
cargo fuzz build --debug-assertions

summary="${FUZZ_SUMMARY:-target/fuzz-summary.md}"
mkdir -p target
{
  echo "fuzz run $(date -u +%Y-%m-%dT%H:%MZ), ${seconds} s per target, $(cargo fuzz --version), $(rustc --version)"
  echo
  echo "| target | executions | exec/s | coverage (edges) | features | corpus | result |"
  echo "| --- | --- | --- | --- | --- | --- | --- |"
} >"$summary"

failed=()
for target in "${targets[@]}"; do
  echo
  echo "=== $target"
  log="target/fuzz-$target.log"
  result=ok

  regressions="regressions/$target"
  if [ -d "$regressions" ] && [ -n "$(ls -A "$regressions")" ]; then
    echo "--- replaying $regressions"
    if ! cargo fuzz run --debug-assertions "$target" "$regressions" -- -runs=0 >"$log.regressions" 2>&1; then
      tail -n 40 "$log.regressions"
      result="regression FAILED"
    fi
  fi

  work="target/corpus/$target"
  mkdir -p "$work" "corpus/$target" "artifacts/$target"
  if ! cargo fuzz run --debug-assertions "$target" "$work" "corpus/$target" -- \
      -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 -print_final_stats=1 \
      >"$log" 2>&1; then
    grep -E "panicked|ERROR|SUMMARY|Test unit written" "$log" | head -n 20 || true
    result="CRASH (see fuzz/$log, fuzz/artifacts/$target/)"
  fi

  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -n 1 || true)
  rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -n 1 || true)
  last=$(grep -E '^#[0-9]+.*cov: ' "$log" | tail -n 1 || true)
  cov=$(sed -n 's/.*cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.*ft: \([0-9]*\).*/\1/p' <<<"$last")
  corp=$(sed -n 's/.*corp: \([0-9]*\/[0-9a-zA-Z]*\).*/\1/p' <<<"$last")
  echo "| $target | ${execs:-?} | ${rate:-?} | ${cov:-?} | ${ft:-?} | ${corp:-?} | $result |" >>"$summary"
  echo "$target: executions ${execs:-?}, coverage ${cov:-?}, features ${ft:-?}, corpus ${corp:-?}: $result"
  [ "$result" = ok ] || failed+=("$target")
done

echo
cat "$summary"
if [ "${#failed[@]}" -gt 0 ]; then
  echo
  echo "FAILED: ${failed[*]}" >&2
  exit 1
fi
