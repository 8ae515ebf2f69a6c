#!/usr/bin/env bash
# Installs the Java client outside the repository, as a user would, and uses it against a real
# server ($MATGTO_BIN) with the JVM's proxy properties (and HTTP(S)_PROXY) pointing at a dead
# proxy, loopback included:
#   1. `mvn install` (into the ordinary Maven cache, ~/.m2), then a project in a temp folder that
#      depends on dev.matgto:matgto-client runs a JUnit 5 test with @MatgtoLocalServer, offline;
#   2. the shaded jar (matgto-client-VERSION-all.jar) alone on the class path of a plain program.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
here="$(pwd)"
: "${MATGTO_BIN:?set MATGTO_BIN to the matgto server binary}"
export MATGTO_BIN

version="$(sed -n '/<artifactId>matgto-client<\/artifactId>/{n;s/.*<version>\(.*\)<\/version>.*/\1/p;q}' pom.xml)"
junit="$(sed -n 's/.*<junit.version>\(.*\)<\/junit.version>.*/\1/p' pom.xml)"
[ -n "$version" ] && [ -n "$junit" ] || { echo "install-test.sh: cannot read versions from pom.xml" >&2; exit 1; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
dead=http://127.0.0.1:9

# Offline first; online only when the Maven cache lacks a plugin (the shade plugin, first time).
mvn_cached() {
  local log="$work/mvn.log"
  if mvn -o -q -B -Dstyle.color=never "$@" >"$log" 2>&1; then return 0; fi
  if grep -qE "offline mode|has not been downloaded from it before|Could not resolve|Cannot access .* in offline|Plugin .* or one of its dependencies could not be resolved" "$log"; then
    echo "install-test.sh: the Maven cache lacks something; resolving online" >&2
    mvn -q -B -Dstyle.color=never "$@"
  else
    cat "$log" >&2
    return 1
  fi
}

echo "== java client: mvn install ($version, tests skipped: run-tests.sh ran them)"
mvn_cached -DskipTests install

echo "== java client: a project in $work/consumer depends on dev.matgto:matgto-client:$version"
mkdir -p "$work/consumer/src/test/java/example"
sed -e "s/@VERSION@/$version/" -e "s/@JUNIT@/$junit/" install-test/pom.xml.in >"$work/consumer/pom.xml"
cp install-test/ConsumerTest.java "$work/consumer/src/test/java/example/"
(cd "$work/consumer" &&
  HTTP_PROXY=$dead HTTPS_PROXY=$dead http_proxy=$dead https_proxy=$dead grpc_proxy=$dead NO_PROXY= no_proxy= \
    mvn -o -q -B -Dstyle.color=never test) || {
  cat "$work"/consumer/target/surefire-reports/*.txt 2>/dev/null >&2
  echo "install-test.sh: the consumer project failed" >&2
  exit 1
}
grep -h -o 'tests="[0-9]*" errors="0" skipped="0" failures="0"' "$work"/consumer/target/surefire-reports/TEST-*.xml |
  grep -q 'tests="1"' || { echo "install-test.sh: the consumer's test did not run and pass" >&2; exit 1; }
echo "consumer project: ok"

echo "== java client: the shaded jar alone on the class path"
jar="$here/target/matgto-client-$version-all.jar"
[ -f "$jar" ] || { echo "install-test.sh: no shaded jar at $jar" >&2; exit 1; }
mkdir -p "$work/plain"
cp install-test/Check.java "$work/plain/"
javac -d "$work/plain" -cp "$jar" "$work/plain/Check.java"
HTTP_PROXY=$dead HTTPS_PROXY=$dead http_proxy=$dead https_proxy=$dead \
  java -Dhttp.proxyHost=127.0.0.1 -Dhttp.proxyPort=9 -Dhttps.proxyHost=127.0.0.1 \
  -Dhttps.proxyPort=9 -Dhttp.nonProxyHosts= -cp "$jar:$work/plain" Check
echo "java client: installs outside the repo work"
