#!/usr/bin/env bash
# Non-interactive bootstrap of one homelab cluster: check the preconditions, then run
# `homelab bootstrap --yes` for it (Proxmox VMs -> k3s -> Flux -> storage -> ingress ->
# observability). Safe to re-run: every stage observes what already holds and skips it.
#
# Swap policy: this script and everything it starts leave swap enabled on every node.
set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_root=$(cd "$script_dir/../.." && pwd)

usage() {
	cat <<USAGE
Usage: $(basename "$0") [options] [CLUSTER]

Bootstrap the cluster defined in config/clusters/CLUSTER.yaml without the TUI.
CLUSTER defaults to the only cluster definition in config/clusters/.

Options:
  -c, --cluster NAME   cluster to bootstrap (same as the positional CLUSTER)
  -s, --stage STAGE    run only this stage: secrets, proxmox, k3s, flux, storage,
                       ingress or observability
      --plan           print the plan (API calls and commands) and exit
      --accept-new     trust unknown SSH host keys and the PVE certificate on first use
      --homelab PATH   the homelab binary (default: \$HOMELAB_BIN, then homelab on
                       PATH, then target/release/homelab in the repository)
  -h, --help           show this help

Preconditions checked before anything runs:
  - config/clusters/CLUSTER.yaml exists
  - config/env/CLUSTER.env exists and is SOPS-encrypted (except for --stage secrets,
    which creates it)
  - an age identity is available (SOPS_AGE_KEY, SOPS_AGE_KEY_FILE or
    ~/.config/sops/age/keys.txt) to decrypt it
  - ssh and git are installed; the homelab binary runs

Exit status: 0 on success, 1 when a precondition fails, otherwise homelab's status.
USAGE
}

die() {
	printf 'cluster_bootstrap: %s\n' "$*" >&2
	exit 1
}

info() {
	printf 'cluster_bootstrap: %s\n' "$*"
}

cluster=""
stage=""
plan=0
accept_new=0
homelab_bin="${HOMELAB_BIN:-}"

while [ $# -gt 0 ]; do
	case "$1" in
	-h | --help)
		usage
		exit 0
		;;
	-c | --cluster)
		[ $# -ge 2 ] || die "$1 needs a value"
		cluster=$2
		shift 2
		;;
	-s | --stage)
		[ $# -ge 2 ] || die "$1 needs a value"
		stage=$2
		shift 2
		;;
	--plan)
		plan=1
		shift
		;;
	--accept-new)
		accept_new=1
		shift
		;;
	--homelab)
		[ $# -ge 2 ] || die "$1 needs a value"
		homelab_bin=$2
		shift 2
		;;
	-*)
		die "unknown option $1 (see --help)"
		;;
	*)
		[ -z "$cluster" ] || die "only one cluster at a time (got $cluster and $1)"
		cluster=$1
		shift
		;;
	esac
done

case "$stage" in
"" | secrets | proxmox | k3s | flux | storage | ingress | observability) ;;
*) die "unknown stage '$stage': use secrets, proxmox, k3s, flux, storage, ingress or observability" ;;
esac

# --- the cluster definition -------------------------------------------------------------
clusters_dir="$repo_root/config/clusters"
[ -d "$clusters_dir" ] || die "no $clusters_dir: run this from a homelab repository checkout"
if [ -z "$cluster" ]; then
	shopt -s nullglob
	defs=("$clusters_dir"/*.yaml)
	shopt -u nullglob
	[ ${#defs[@]} -eq 1 ] || die "found ${#defs[@]} cluster definitions in config/clusters/: name one (see --help)"
	cluster=$(basename "${defs[0]}" .yaml)
fi
case "$cluster" in
*[!a-z0-9-]* | "" | -*) die "cluster name '$cluster' is not DNS-safe (a-z, 0-9, -)" ;;
esac
definition="$clusters_dir/$cluster.yaml"
if [ ! -f "$definition" ]; then
	known=$(find "$clusters_dir" -maxdepth 1 -name '*.yaml' -exec basename {} .yaml \; | tr '\n' ' ')
	die "no cluster definition $definition (known: ${known:-none})"
fi
info "cluster $cluster ($definition)"

# --- the encrypted env file --------------------------------------------------------------
env_file="$repo_root/config/env/$cluster.env"
if [ "$stage" != "secrets" ]; then
	[ -f "$env_file" ] || die "no $env_file: create it first with: $0 --stage secrets $cluster"
	grep -q '^sops_mac=' "$env_file" || die "$env_file is not SOPS-encrypted; encrypt it (homelab env encrypt $env_file) before going on, and never commit it in plaintext"
	if [ -z "${SOPS_AGE_KEY:-}" ]; then
		key_file="${SOPS_AGE_KEY_FILE:-${XDG_CONFIG_HOME:-$HOME/.config}/sops/age/keys.txt}"
		[ -r "$key_file" ] || die "no age identity to decrypt $env_file: set SOPS_AGE_KEY_FILE or put the key in $key_file"
	fi
fi

# --- tools -------------------------------------------------------------------------------
for tool in ssh git; do
	command -v "$tool" >/dev/null 2>&1 || die "$tool is not installed"
done
if [ -z "$homelab_bin" ]; then
	if command -v homelab >/dev/null 2>&1; then
		homelab_bin=$(command -v homelab)
	elif [ -x "$repo_root/target/release/homelab" ]; then
		homelab_bin="$repo_root/target/release/homelab"
	else
		die "no homelab binary: build it (cargo build --release) or pass --homelab PATH"
	fi
fi
"$homelab_bin" --version >/dev/null 2>&1 || die "$homelab_bin does not run"

# --- go ----------------------------------------------------------------------------------
args=(--repo "$repo_root" --cluster "$cluster" bootstrap)
if [ "$plan" -eq 1 ]; then
	args+=(--plan)
else
	args+=(--yes)
fi
[ -z "$stage" ] || args+=(--stage "$stage")
[ "$accept_new" -eq 0 ] || args+=(--accept-new)

info "running: $homelab_bin ${args[*]}"
exec "$homelab_bin" "${args[@]}"
