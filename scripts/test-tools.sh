#!/usr/bin/env bash
# `npm run test:tools`: installs the programs outside Node that the tests run, on Debian or Ubuntu
# (apt-get, as root or through sudo). Without them those tests are skipped (under CI=true they
# fail). Only the missing ones are installed; the checks are those of test/utils/tools.ts:
#
#   swaks, and perl's Net::SSLeay for swaks --tls (--no-install-recommends leaves it out)
#   curl, python3 (smtplib), openssl (test certificates)
#   Postfix's smtp-sink, smtp-source and posttls-finger
#   Debian's aiosmtpd, run with /usr/bin/python3
#   HAProxy (PROXY protocol)
#   PostgreSQL's server (the SQL mail queue's tests start their own throw-away clusters)
#   Chromium (the web inbox's browser tests drive it with playwright-core)
#   Prometheus's promtool (checks the /metrics text)
#   SpamAssassin's spamd (the inbox's SpamAssassin check; the tests start their own on loopback)
#
# No daemon is started (a temporary policy-rc.d that exits 101), Postfix gets no mail
# configuration ("No configuration") and PostgreSQL no "main" cluster: only the programs are wanted.
set -uo pipefail

installed() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/local/sbin/$1" ] || [ -x "/usr/sbin/$1" ] || [ -x "/sbin/$1" ]; }

# Debian keeps PostgreSQL's server programs off PATH, in /usr/lib/postgresql/<version>/bin
postgres_installed() {
  local dir
  for dir in /usr/lib/postgresql/*/bin; do
    [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ] && [ -x "$dir/postgres" ] && [ -x "$dir/createdb" ] && return 0
  done
  installed initdb && installed pg_ctl && installed postgres && installed createdb
}

missing_packages() {
  local missing=()
  installed swaks || missing+=(swaks)
  perl -MNet::SSLeay -e 1 >/dev/null 2>&1 || missing+=(libnet-ssleay-perl)
  installed curl || missing+=(curl)
  installed python3 || missing+=(python3)
  installed openssl || missing+=(openssl)
  { installed smtp-sink && installed smtp-source && installed posttls-finger; } || missing+=(postfix)
  /usr/bin/python3 -c 'import aiosmtpd' >/dev/null 2>&1 || missing+=(python3-aiosmtpd)
  installed haproxy || missing+=(haproxy)
  postgres_installed || missing+=(postgresql)
  installed chromium || missing+=(chromium)
  installed promtool || missing+=(prometheus)
  installed spamd || missing+=(spamd)
  echo "${missing[@]}"
}

read -r -a missing <<<"$(missing_packages)"
if [ ${#missing[@]} -eq 0 ]; then
  echo "test-tools: everything is installed"
  exit 0
fi
echo "test-tools: installing ${missing[*]}"

if ! command -v apt-get >/dev/null 2>&1; then
  echo "test-tools: no apt-get here (not Debian or Ubuntu): install ${missing[*]} (Debian's names) yourself" >&2
  exit 1
fi
sudo=()
if [ "$(id -u)" -ne 0 ]; then
  if ! command -v sudo >/dev/null 2>&1; then
    echo "test-tools: run as root: apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 1
  fi
  sudo=(sudo)
fi

export DEBIAN_FRONTEND=noninteractive
log="$(mktemp)"
policy=0
cleanup() {
  [ "$policy" -eq 1 ] && "${sudo[@]}" rm -f /usr/sbin/policy-rc.d
  rm -f "$log"
}
trap cleanup EXIT

# postfix: no mail configuration, and no daemon started by any install script
echo 'postfix postfix/main_mailer_type select No configuration' | "${sudo[@]}" debconf-set-selections 2>/dev/null || true
# postgresql: no "main" cluster (its configure step reads create_main_cluster through this drop-in
# directory of createcluster.conf)
if [[ " ${missing[*]} " == *" postgresql "* ]]; then
  "${sudo[@]}" mkdir -p /etc/postgresql-common/createcluster.d &&
    echo 'create_main_cluster = false' | "${sudo[@]}" tee /etc/postgresql-common/createcluster.d/effect-smtpd.conf >/dev/null
fi
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee /usr/sbin/policy-rc.d >/dev/null &&
    "${sudo[@]}" chmod 755 /usr/sbin/policy-rc.d && policy=1
fi

if ! { "${sudo[@]}" apt-get update -q && "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
  tail -n 20 "$log" >&2
  echo "test-tools: apt-get install ${missing[*]} failed" >&2
  exit 1
fi

read -r -a still <<<"$(missing_packages)"
if [ ${#still[@]} -gt 0 ]; then
  echo "test-tools: still missing after the install: ${still[*]}" >&2
  exit 1
fi
echo "test-tools: installed ${missing[*]}"
