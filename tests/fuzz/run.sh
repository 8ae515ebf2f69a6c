#!/usr/bin/env bash
# `make fuzz` runner: runs each libFuzzer binary of build/fuzz for
# FUZZ_SECONDS over its committed corpus (tests/fuzz/corpus/<target>/, read
# only) plus a working corpus (build/fuzz/corpus/<target>/, where new inputs
# go), one target after the other, one process at a time (-fork=1: a crash is
# saved and fuzzing goes on, so one known defect does not hide the next).
# Prints one line per target: executions, coverage (cov: edges, ft: features,
# as libFuzzer counts them), corpus size, crashes (distinct by their first
# sanitizer or property line) and where they are; exits 1 if any crashed.
#
#   FUZZ_SECONDS=600 tests/fuzz/run.sh [target...]     (default: every target)
#   FUZZ_JOBS=2 ...     libFuzzer worker processes per target (default 1)
#   FUZZ_MERGE=1 ...   afterwards, minimise the new inputs into the committed
#                      corpus (libFuzzer -merge=1): review and commit them.
set -uo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
bin="$root/build/fuzz/bin"
seconds="${FUZZ_SECONDS:-60}"
all=(request websocket cassette_binary journal cassette_json har redactor)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all[@]}")

dict_for() {
  case "$1" in
    request) echo "$root/tests/fuzz/dict/request.dict" ;;
    websocket) echo "$root/tests/fuzz/dict/websocket.dict" ;;
    cassette_json | har | redactor) echo "$root/tests/fuzz/dict/json.dict" ;;
  esac
}

results="$root/build/fuzz/results.md"
echo "| target | seconds | executions | exec/s | cov | ft | corpus | crashes |" >"$results"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |" >>"$results"
failed=0
for t in "${targets[@]}"; do
  exe="$bin/fuzz_$t"
  [ -x "$exe" ] || { echo "fuzz: $exe is missing (make fuzz builds it)" >&2; exit 2; }
  work="$root/build/fuzz/corpus/$t"
  art="$root/build/fuzz/artifacts/$t"
  log="$root/build/fuzz/logs/$t.log"
  mkdir -p "$work" "$art" "$(dirname "$log")" "$root/tests/fuzz/corpus/$t"
  rm -f "$art"/*  # this run's crashes only (minimised ones belong in the corpus)
  dict=$(dict_for "$t")
  echo "fuzz: $t for ${seconds}s (log: $log)"
  "$exe" -fork="${FUZZ_JOBS:-1}" -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1 \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="$art/" ${dict:+-dict="$dict"} \
    "$work" "$root/tests/fuzz/corpus/$t" >"$log" 2>&1
  # Fork mode reports after every job: "#N: cov: C ft: F corp: K exec/s E
  # oom/timeout/crash: a/b/c time: Ts job: J ...".
  last=$(grep -E '^#[0-9]+: cov:' "$log" | tail -1)
  execs=$(sed -E 's/^#([0-9]+):.*/\1/' <<<"$last")
  cov=$(sed -E 's/.* cov: ([0-9]+).*/\1/' <<<"$last")
  ft=$(sed -E 's/.* ft: ([0-9]+).*/\1/' <<<"$last")
  corp=$(sed -E 's/.* corp: ([0-9]+).*/\1/' <<<"$last")
  took=$(sed -E 's/.* time: ([0-9]+)s.*/\1/' <<<"$last")
  [ -n "$last" ] || { execs=0 cov=0 ft=0 corp=0 took=$seconds; }
  rate=$((execs / (took > 0 ? took : 1)))
  # Distinct crashes: the first line that says what went wrong.
  crashes=""
  shopt -s nullglob
  files=("$art"/crash-* "$art"/timeout-* "$art"/oom-* "$art"/leak-*)
  if [ ${#files[@]} -gt 0 ]; then
    failed=1
    crashes=$(for f in "${files[@]}"; do
      timeout 60 "$exe" "$f" 2>&1 |
        grep -m1 -E 'fuzz property violated|SUMMARY: |ERROR: libFuzzer: (timeout|out-of-memory)' |
        sed -E 's/^==[0-9]+==//; s/ in [^ ]*$//'
    done | sort | uniq -c | sed -E 's/^ *([0-9]+) /\1x /' | paste -sd ';' -)
    crashes="${#files[@]} inputs: $crashes (in $art)"
  fi
  printf 'fuzz: %-16s %10s execs %7s/s  cov %5s  ft %6s  corpus %5s  crashes: %s\n' \
    "$t" "$execs" "$rate" "$cov" "$ft" "$corp" "${crashes:-0}"
  echo "| $t | $took | $execs | $rate | $cov | $ft | $corp | ${crashes:-0} |" >>"$results"
  if [ "${FUZZ_MERGE:-0}" = 1 ]; then
    "$exe" -merge=1 "$root/tests/fuzz/corpus/$t" "$work" >>"$log" 2>&1
  fi
done
echo "fuzz: table in $results"
exit $failed
