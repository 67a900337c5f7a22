#!/usr/bin/env bash
# Measures `mlops serve` against the original serving stack (FastAPI +
# scikit-learn, ../shared/anchors/fastapi_anchor.py) in one sitting, so the
# ratio holds even when the shared machine is slower or faster than usual.
#
#   scripts/serve_vs_anchor.sh MODEL.json [ROUNDS] [SECONDS]
#
# Both servers stay up; each round loads the anchor and then mlops with the
# same wrk command (2 threads, 16 connections) for each body size, so a
# change in the machine's speed hits both sides of a round alike. Prints one
# line per load and, per body size, the median ratio of the rounds.
# Needs wrk, Debian's python3-fastapi, python3-uvicorn and python3-sklearn,
# and a built binary in $MLOPS (default: go build into a temporary folder).
set -euo pipefail
model=${1:?usage: serve_vs_anchor.sh MODEL.json [ROUNDS] [SECONDS]}
rounds=${2:-3}
secs=${3:-10}
here=$(cd "$(dirname "$0")/.." && pwd)
anchors=${ANCHORS:-$here/../shared/anchors}
tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT

mlops=${MLOPS:-}
if [ -z "$mlops" ]; then
  mlops=$tmp/mlops
  (cd "$here" && go build -trimpath -o "$mlops" ./cmd/mlops)
fi

# wait_ready URL: poll until the server answers (the anchor fits its model
# at start-up, which takes a few seconds).
wait_ready() {
  for _ in $(seq 1 600); do
    curl -sf "$1" >/dev/null && return 0
    sleep 0.2
  done
  echo "no answer from $1" >&2
  exit 1
}

(cd "$anchors" && exec /usr/bin/python3 -m uvicorn fastapi_anchor:app \
  --host 127.0.0.1 --port 8090 --workers 1 --log-level warning) &
pids+=($!)
"$mlops" serve --model-file "$model" --prediction-log "" --poll 0 \
  --addr 127.0.0.1:8099 >"$tmp/serve.log" 2>&1 &
pids+=($!)
wait_ready http://127.0.0.1:8090/health
wait_ready http://127.0.0.1:8099/health/ready

# load NAME PORT BODY: one wrk run; prints "NAME BODY req/s p99" and
# fails on any non-2xx answer or socket error.
load() {
  local out
  out=$(wrk -t2 -c16 -d"${secs}s" --latency -s "$anchors/post_$3.lua" \
    "http://127.0.0.1:$2/api/v1/predict")
  if grep -q -E "Non-2xx|Socket errors" <<<"$out"; then
    echo "$1 body=$3: failed requests" >&2
    echo "$out" >&2
    exit 1
  fi
  echo "$1 $3 $(awk '/Requests\/sec/ {print $2}' <<<"$out") $(awk '$1 == "99%" {print $2}' <<<"$out")"
}

for r in $(seq 1 "$rounds"); do
  for body in 1 100; do
    a=$(load anchor 8090 "$body")
    m=$(load mlops 8099 "$body")
    echo "round $r: $a | $m"
    echo "$body $(awk '{print $3}' <<<"$a") $(awk '{print $3}' <<<"$m")" >>"$tmp/ratios"
  done
done
echo "median over $rounds rounds (anchor req/s, mlops req/s, ratio):"
for body in 1 100; do
  awk -v b="$body" '$1 == b {print $2, $3, $3 / $2}' "$tmp/ratios" | sort -k3,3 -g |
    awk -v b="$body" '{l[NR] = $0} END {printf "  body=%s: %s\n", b, l[int((NR + 1) / 2)]}'
done
