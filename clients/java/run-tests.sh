#!/usr/bin/env bash
# Builds the Java client (generating code from ../../proto) and runs its tests against the real
# matgto binary ($MATGTO_BIN, default <repo>/build/dev/bin/matgto). Exits non-zero on any failure.
# Dependencies land in the ordinary Maven cache (~/.m2); once it holds everything the run is offline.
# Then install-test.sh installs the client (into ~/.m2) and uses it from a project outside the repo,
# and the shaded jar from a plain program.
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")"
repo_root="$(cd ../.. && pwd)"
export MATGTO_BIN="${MATGTO_BIN:-$repo_root/build/dev/bin/matgto}"

for tool in java mvn; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "run-tests.sh: '$tool' not found (needs Java 17+ and Maven 3.8+)" >&2
    exit 2
  fi
done

rm -rf target/surefire-reports target/matgto-servers
log="$(mktemp)"
trap 'rm -f "$log"' EXIT

# Offline first: fast and network-free when ~/.m2 is warm. If (and only if) that failed because
# something was missing from the cache, run again online.
mvn -o -q -B -Dstyle.color=never test "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
if [ "$status" -ne 0 ] && grep -qE "offline mode|has not been downloaded from it before|Could not resolve|Cannot access .* in offline|Failed to read artifact descriptor|Plugin .* or one of its dependencies could not be resolved" "$log"; then
  echo "run-tests.sh: the Maven cache lacks something; resolving online" >&2
  rm -rf target/surefire-reports
  mvn -q -B -Dstyle.color=never test "$@"
  status=$?
fi

# One plain summary line from the Surefire reports (mvn -q prints none when all pass).
if compgen -G "target/surefire-reports/TEST-*.xml" >/dev/null; then
  echo  # Maven may end its output without a newline
  awk '
    /<testsuite[ >]/ {
      for (i = 1; i <= NF; i++) {
        if (match($i, /^(tests|failures|errors|skipped)="[0-9]+"/)) {
          split($i, kv, "\""); key = substr($i, 1, index($i, "=") - 1); sum[key] += kv[2]
        }
      }
    }
    END {
      failed = sum["failures"] + sum["errors"]
      passed = sum["tests"] - failed - sum["skipped"]
      printf "java: %d passed, %d failed, %d skipped\n", passed, failed, sum["skipped"]
    }' target/surefire-reports/TEST-*.xml
fi

# Installs outside the repo: mvn install + a consumer project, and the shaded jar.
if [ "$status" -eq 0 ]; then
  ./install-test.sh
  status=$?
fi

exit "$status"
