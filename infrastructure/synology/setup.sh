#!/usr/bin/env bash
# Idempotent NFS export setup on a Synology DSM over SSH, for the homelab's two NFS users:
#   - nfs-subdir-external-provisioner (StorageClass nfs): the kubernetes export
#   - Longhorn backups: the longhorn-backup export (NFSv4.1)
# Re-running changes nothing when the exports are already right; --dry-run shows what would change.
set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_root=$(cd "$script_dir/../.." && pwd)

usage() {
	cat <<USAGE
Usage: $(basename "$0") [options]

Create (or verify) the NFS exports the cluster uses on a Synology NAS, over SSH.

Options:
  -c, --cluster NAME     read defaults from config/clusters/NAME.yaml
                         (storage.nfs_server, storage.nfs_export, network.subnet)
  -H, --host HOST        DSM address (default: storage.nfs_server of the cluster)
  -u, --user USER        SSH user with sudo rights on DSM (default: admin)
  -p, --port PORT        SSH port (default: 22)
  -e, --export PATH      export for the nfs StorageClass (default: storage.nfs_export)
  -b, --backup PATH      export for Longhorn backups (default: /volume1/longhorn-backup)
  -C, --clients CIDR     clients allowed to mount (default: network.subnet)
  -n, --dry-run          connect, show what would change, change nothing
      --print-script     print the script that runs on DSM and exit (no connection)
  -h, --help             show this help

What it does on DSM (as root through sudo), each step only when needed:
  1. checks this is DSM and the NFS service is on (Control Panel > File Services > NFS,
     with NFSv4.1 enabled - the script does not switch services on for you);
  2. creates the export folders;
  3. keeps one marked block in /etc/exports with both exports for the clients, and
     reloads the export table (exportfs -ra) only when the block changed.
DSM rewrites /etc/exports when you edit a shared folder's NFS permissions in the UI: run
this script again afterwards (it is idempotent).
USAGE
}

die() {
	printf 'synology/setup: %s\n' "$*" >&2
	exit 1
}

# yaml_value FILE SECTION KEY: the scalar value of SECTION.KEY in a simple block YAML file.
yaml_value() {
	awk -v section="$2" -v key="$3" '
		/^[^[:space:]#][^:]*:/ { in_section = ($1 == section ":") }
		in_section && $1 == key ":" { sub(/^[^:]*:[[:space:]]*/, ""); sub(/[[:space:]]+#.*$/, ""); print; exit }
	' "$1"
}

cluster=""
host=""
user="admin"
port="22"
export_path=""
backup_path="/volume1/longhorn-backup"
clients=""
dry_run=0
print_script=0

while [ $# -gt 0 ]; do
	case "$1" in
	-h | --help)
		usage
		exit 0
		;;
	-c | --cluster | -H | --host | -u | --user | -p | --port | -e | --export | -b | --backup | -C | --clients)
		[ $# -ge 2 ] || die "$1 needs a value"
		case "$1" in
		-c | --cluster) cluster=$2 ;;
		-H | --host) host=$2 ;;
		-u | --user) user=$2 ;;
		-p | --port) port=$2 ;;
		-e | --export) export_path=$2 ;;
		-b | --backup) backup_path=$2 ;;
		-C | --clients) clients=$2 ;;
		esac
		shift 2
		;;
	-n | --dry-run)
		dry_run=1
		shift
		;;
	--print-script)
		print_script=1
		shift
		;;
	*)
		die "unknown argument $1 (see --help)"
		;;
	esac
done

if [ -n "$cluster" ] || { [ -z "$host" ] || [ -z "$export_path" ] || [ -z "$clients" ]; }; then
	if [ -z "$cluster" ]; then
		shopt -s nullglob
		defs=("$repo_root"/config/clusters/*.yaml)
		shopt -u nullglob
		[ ${#defs[@]} -eq 1 ] && cluster=$(basename "${defs[0]}" .yaml)
	fi
	if [ -n "$cluster" ]; then
		definition="$repo_root/config/clusters/$cluster.yaml"
		[ -f "$definition" ] || die "no cluster definition $definition"
		[ -n "$host" ] || host=$(yaml_value "$definition" storage nfs_server)
		[ -n "$export_path" ] || export_path=$(yaml_value "$definition" storage nfs_export)
		[ -n "$clients" ] || clients=$(yaml_value "$definition" network subnet)
	fi
fi
[ -n "$export_path" ] || die "no export path: pass --export or set storage.nfs_export in the cluster definition"
[ -n "$clients" ] || die "no client network: pass --clients or set network.subnet in the cluster definition"
case "$export_path$backup_path" in
*[!A-Za-z0-9/_.-]*) die "export paths may only contain letters, digits, / _ . -" ;;
esac
case "$clients" in
*[!0-9./]*) die "--clients must be an IPv4 address or CIDR, got '$clients'" ;;
esac

# The script that runs on DSM. Plain POSIX sh (DSM's /bin/sh is ash); configuration comes in as
# environment variables so the same text is printed, dry-run and applied.
remote_script() {
	cat <<'REMOTE'
set -eu
EXPORTS_FILE=${EXPORTS_FILE:-/etc/exports}
EXPORTFS=${EXPORTFS:-exportfs}
begin='# BEGIN homelab (managed by infrastructure/synology/setup.sh)'
end='# END homelab'
opts='rw,async,no_wdelay,no_root_squash,insecure_locks,sec=sys,anonuid=1025,anongid=100'
say() { printf '%s\n' "$*"; }
act() {
	if [ "$DRY_RUN" = 1 ]; then say "would: $*"; else say "doing: $*"; "$@"; fi
}

if [ "${SKIP_DSM_CHECK:-0}" != 1 ]; then
	[ -f /etc.defaults/VERSION ] || { say "error: this is not DSM (/etc.defaults/VERSION missing)"; exit 1; }
	if [ ! -d /proc/fs/nfsd ] || ! grep -q '4.1' /proc/fs/nfsd/versions 2>/dev/null; then
		say "error: the NFS service is off or NFSv4.1 is disabled: enable it in Control Panel > File Services > NFS"
		exit 1
	fi
fi

for dir in "$EXPORT_PATH" "$BACKUP_PATH"; do
	if [ -d "$dir" ]; then say "ok: $dir exists"; else act mkdir -p "$dir"; fi
done

block=$(printf '%s\n%s %s(%s)\n%s %s(%s)\n%s' "$begin" "$EXPORT_PATH" "$CLIENTS" "$opts" "$BACKUP_PATH" "$CLIENTS" "$opts" "$end")
[ -f "$EXPORTS_FILE" ] || : >"$EXPORTS_FILE"
current=$(awk -v b="$begin" -v e="$end" '$0 == b { on = 1 } on { print } $0 == e { on = 0 }' "$EXPORTS_FILE")
if [ "$current" = "$block" ]; then
	say "ok: $EXPORTS_FILE already exports $EXPORT_PATH and $BACKUP_PATH to $CLIENTS"
	exit 0
fi
say "change: $EXPORTS_FILE homelab block"
say "--- current"
say "${current:-(none)}"
say "+++ wanted"
say "$block"
if [ "$DRY_RUN" = 1 ]; then
	say "dry run: nothing changed"
	exit 0
fi
tmp="$EXPORTS_FILE.homelab.$$"
awk -v b="$begin" -v e="$end" '$0 == b { on = 1; next } $0 == e { on = 0; next } !on { print }' "$EXPORTS_FILE" >"$tmp"
printf '%s\n' "$block" >>"$tmp"
chmod 644 "$tmp"
mv "$tmp" "$EXPORTS_FILE"
act "$EXPORTFS" -ra
say "done: exports reloaded"
REMOTE
}

if [ "$print_script" -eq 1 ]; then
	remote_script
	exit 0
fi

[ -n "$host" ] || die "no DSM host: pass --host or set storage.nfs_server in the cluster definition"
command -v ssh >/dev/null 2>&1 || die "ssh is not installed"

printf 'synology/setup: %s@%s:%s  export %s and %s to %s%s\n' "$user" "$host" "$port" \
	"$export_path" "$backup_path" "$clients" "$([ "$dry_run" -eq 1 ] && echo ' (dry run)')"
remote_env="EXPORT_PATH='$export_path' BACKUP_PATH='$backup_path' CLIENTS='$clients' DRY_RUN='$dry_run'"
remote_script | ssh -p "$port" -o BatchMode=yes "$user@$host" "sudo env $remote_env /bin/sh -s"
