#!/usr/bin/env bash
# Runs the README's two commands from a clean copy of the repository, with
# no network needed (the pipeline's download falls back to the archive
# embedded in the binary):
#   go test ./...
#   go run ./cmd/mlops up   (reduced configuration via overrides)
# `up` trains, promotes and then serves until interrupted, so the script
# waits until /health/ready answers, sends one prediction, stops the server
# with SIGTERM and expects exit 0. It builds the binary and runs it (what
# `go run` does) so that the signal reaches mlops itself.
# The copy holds what git would commit: tracked files plus untracked files
# that .gitignore does not exclude. Prints each command's wall time.
#
# Usage: scripts/two-commands.sh [extra key=value overrides for mlops up]
# FULL=1 uses the full configuration (slow). PORT picks the port (18080).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
port=${PORT:-18080}
unset PORT MLOPS_TRACKING_URI MLOPS_ARTIFACTS

work=$(mktemp -d)
pid=""
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
git ls-files -z --cached --others --exclude-standard \
  | while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done \
  | tar --null -T - -cf - | tar -C "$work" -xf -
echo "clean copy: $work ($(find "$work" -type f | wc -l) files)"
cd "$work"

# Reduced run: two fast families, fixed K, a short sweep, no download
# retries (the URL is unreachable offline; the embedded archive is used).
reduced=(
  "model_selection.families=[ridge,lasso]"
  model_selection.cv_folds=3
  feature_engineering.optimize_hyperparams=false
  sweep.trials=5
  download_data.retries=0
  download_data.timeout=5s
)
if [ "${FULL:-0}" = 1 ]; then reduced=(); fi

# Both commands run even when the first fails; the exit status is non-zero
# if either failed.
status=0
t0=$(date +%s)
printf '\n== go test ./...\n'
go test ./... || { echo "FAILED: go test ./..." >&2; status=1; }
t1=$(date +%s)

printf '\n== go run ./cmd/mlops up --addr 127.0.0.1:%s %s\n' "$port" "${reduced[*]} $*"
go build -o "$work/mlops-bin" ./cmd/mlops
MLOPS_HOME="$work/.mlops" "$work/mlops-bin" up --addr "127.0.0.1:$port" "${reduced[@]}" "$@" > "$work/up.log" 2>&1 &
pid=$!
ready=0
for _ in $(seq 1 1800); do # 30 min at most
  if ! kill -0 "$pid" 2>/dev/null; then break; fi
  if curl -fsS -o /dev/null "http://127.0.0.1:$port/health/ready" 2>/dev/null; then ready=1; break; fi
  sleep 1
done
t2=$(date +%s)
if [ "$ready" = 1 ]; then
  curl -fsS -X POST "http://127.0.0.1:$port/api/v1/predict" -H 'Content-Type: application/json' \
    -d '{"instances":[{"longitude":-122.23,"latitude":37.88,"housing_median_age":41,"total_rooms":880,"total_bedrooms":129,"population":322,"households":126,"median_income":8.3252,"ocean_proximity":"NEAR BAY"}]}' \
    || { echo "FAILED: prediction" >&2; status=1; }
  echo
  kill -TERM "$pid"
  rc=0; wait "$pid" || rc=$?
  pid=""
  [ "$rc" = 0 ] || { echo "FAILED: mlops up exited $rc after SIGTERM" >&2; status=1; }
else
  echo "FAILED: mlops up never became ready" >&2
  status=1
fi
grep -v '^time=' "$work/up.log" | tail -25 || true
for f in best_params.yaml model_config.yaml; do
  test -s "$f" || { echo "FAILED: missing output $f" >&2; status=1; }
done

printf '\n== timings\ngo test ./...                 %4ds\nmlops up until ready          %4ds\n' $((t1 - t0)) $((t2 - t1))
exit "$status"
