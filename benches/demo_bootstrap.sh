#!/usr/bin/env bash
# The whole demo bootstrap, headless: `homelab demo --headless --speed max` (the lab), then
# `homelab bootstrap --yes --accept-new --flux-manifest <the lab's>` of every stage in this
# build in the lab's environment.
# RUNS times (default 5), each on a fresh lab; prints each run's wall time and peak RSS of the
# bootstrap process (GNU time's %e and %M) and the lab process's peak RSS (VmHWM), then the
# medians. docs/performance.md, "The demo bootstrap", records the figures with the profile.
#
#   benches/demo_bootstrap.sh [path/to/homelab] [runs]
#
# Default binary: $CARGO_TARGET_DIR/debug/homelab (`cargo build`, the dev profile).
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
homelab=${1:-${CARGO_TARGET_DIR:-$here/target}/debug/homelab}
runs=${2:-5}
[ -x "$homelab" ] || { echo "no binary at $homelab; cargo build first" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "needs GNU time (apt-get install -y time)" >&2; exit 2; }

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
walls=(); rss=(); labrss=()
for i in $(seq "$runs"); do
    out=$(mktemp)
    "$homelab" --repo "$here" demo --headless --speed max >"$out" &
    lab=$!
    until grep -q 'demo lab ready' "$out"; do
        kill -0 "$lab" 2>/dev/null || { cat "$out"; echo "the lab ended" >&2; exit 1; }
        sleep 0.1
    done
    # The install manifest the lab pins (its "Flux manifest" line).
    manifest=$(sed -n 's/^  Flux manifest *\(.*\)  (flux\.install_sha256.*/\1/p' "$out")
    [ -f "$manifest" ] || { cat "$out"; echo "no Flux manifest line" >&2; exit 1; }
    timing=$(mktemp)
    (
        eval "$(grep -E '^(export|unset) ' "$out")"
        /usr/bin/time -f '%e %M' -o "$timing" "$homelab" bootstrap --yes --accept-new \
            --flux-manifest "$manifest" </dev/null >/dev/null 2>&1 || {
            code=$?
            # 2: later stages are not in this build yet (each reported); anything else failed.
            [ "$code" = 2 ] || { echo "bootstrap failed ($code)" >&2; exit 1; }
        }
    )
    read -r wall kib < <(tail -n1 "$timing")
    hwm=$(awk '/VmHWM/ {print $2}' "/proc/$lab/status")
    kill -TERM "$lab"; wait "$lab" || true
    rm -f "$out" "$timing"
    printf 'run %d: bootstrap %.2f s, peak RSS %d MiB; lab peak RSS %d MiB\n' \
        "$i" "$wall" $((kib / 1024)) $((hwm / 1024))
    walls+=("$wall"); rss+=("$kib"); labrss+=("$hwm")
done
printf 'median of %d: bootstrap %s s, peak RSS %d MiB; lab peak RSS %d MiB\n' "$runs" \
    "$(printf '%s\n' "${walls[@]}" | median)" \
    $(( $(printf '%s\n' "${rss[@]}" | median) / 1024 )) \
    $(( $(printf '%s\n' "${labrss[@]}" | median) / 1024 ))
