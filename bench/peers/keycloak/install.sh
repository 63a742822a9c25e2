#!/usr/bin/env bash
# Installs Keycloak's Quarkus distribution from Maven Central into target/peers/keycloak/ (ignored
# by git, like all of target/). Downloads the zip once (cached, checked against Maven Central's
# .sha1), unzips it once. Prints the Keycloak home directory.
#   bench/peers/keycloak/install.sh
# Environment: KEYCLOAK_VERSION (default 26.7.3), PEERS_DIR (default <repo>/target/peers).
# Needs: curl, unzip (apt-get install unzip), sha1sum; the start needs JDK 17+ (java on PATH or
# JAVA_HOME) — Keycloak 26 runs on 17 and 21.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../../.." && pwd)
version=${KEYCLOAK_VERSION:-26.7.3}
peers=${PEERS_DIR:-$repo/target/peers}
cache="$peers/keycloak/cache"
home="$peers/keycloak/keycloak-$version"
url="https://repo1.maven.org/maven2/org/keycloak/keycloak-quarkus-dist/$version/keycloak-quarkus-dist-$version.zip"
zip="$cache/keycloak-quarkus-dist-$version.zip"

command -v unzip > /dev/null || {
  if [ "$(id -u)" = 0 ] && command -v apt-get > /dev/null; then
    echo "installing unzip with apt-get…" >&2
    apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq unzip > /dev/null
  else
    echo "unzip is not installed (apt-get install unzip)" >&2; exit 1
  fi
}

mkdir -p "$cache"
if [ -x "$home/bin/kc.sh" ]; then
  echo "$home"; exit 0
fi

expected=$(curl -fsS "$url.sha1" | awk '{print $1}')
if [ -f "$zip" ] && [ "$(sha1sum "$zip" | awk '{print $1}')" = "$expected" ]; then
  echo "using the cached $zip" >&2
else
  echo "downloading $url (about 177 MB)…" >&2
  curl -fSL --retry 3 -o "$zip.part" "$url"
  actual=$(sha1sum "$zip.part" | awk '{print $1}')
  if [ "$actual" != "$expected" ]; then
    echo "sha1 mismatch: got $actual, Maven Central says $expected" >&2; rm -f "$zip.part"; exit 1
  fi
  mv "$zip.part" "$zip"
fi

tmp=$(mktemp -d "$peers/keycloak/unzip-XXXXXX")
unzip -q "$zip" -d "$tmp"
mv "$tmp/keycloak-$version" "$home"
rmdir "$tmp"
echo "$home"
