//! The storage stage's NFS probe against a real NFS server: Debian's user-space nfs-ganesha
//! (VFS backend, NFSv4 over TCP on 127.0.0.1, no rpcbind) serving a writable and a read-only
//! export of temporary directories, cross-checked with the node simulator's answers
//! (`src/sim/ssh_node/storage.rs`) for the same two exports.
//!
//! This machine's kernel has no NFS client, so the probe's `mount -t nfs` cannot run here. The
//! nodes' shell (`storage_stage.rs`' lab) hands the probe script to [`probe_on_peer`], which
//! does the script's steps with libnfs' user-space client against ganesha: connect to the
//! export (`nfs-ls`, the mount), write `.homelab-probe-<marker>` (`nfs-cp`), read it back
//! (`nfs-cat`), remove it (libnfs' `nfs_unlink`, through python3's ctypes: libnfs-utils has no
//! remove command), and prints the script's `nfs.<fact>=` lines with the client's own stderr.
//! The stage then reads and diagnoses that like any node's answer.

use crate::storage_stage::{EXPORT, NfsPeer, SERVER, StorageLab, evidence, failed_step, run};
use crate::support::{find_peer, net};
use homelab::backends::ssh::ExecOutcome;
use homelab::stages::storage::{self, nfs_probe};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The read-only export's NFSv4 path.
const READ_ONLY: &str = "/srv/nfs/readonly";

/// libnfs' `nfs_unlink` of `argv[1]` (an nfs:// URL); exit 1 with libnfs' error on stderr.
const UNLINK_PY: &str = r#"
import ctypes, sys
l = ctypes.CDLL("libnfs.so.13")
class Url(ctypes.Structure):
    _fields_ = [("server", ctypes.c_char_p), ("path", ctypes.c_char_p), ("file", ctypes.c_char_p)]
l.nfs_init_context.restype = ctypes.c_void_p
l.nfs_parse_url_full.restype = ctypes.POINTER(Url)
l.nfs_parse_url_full.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
l.nfs_get_error.restype = ctypes.c_char_p
l.nfs_get_error.argtypes = [ctypes.c_void_p]
l.nfs_mount.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p]
l.nfs_unlink.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
n = l.nfs_init_context()
u = l.nfs_parse_url_full(n, sys.argv[1].encode())
if not u:
    sys.exit("bad url: %s" % l.nfs_get_error(n).decode())
if l.nfs_mount(n, u.contents.server, u.contents.path) != 0:
    sys.exit("mount: %s" % l.nfs_get_error(n).decode())
if l.nfs_unlink(n, u.contents.file) != 0:
    sys.exit("unlink: %s" % l.nfs_get_error(n).decode())
"#;

/// What the test needs, or why it cannot run (a missing package).
fn peers_missing() -> Option<String> {
    for p in ["ganesha.nfsd", "nfs-ls", "nfs-cp", "nfs-cat", "python3"] {
        if find_peer(p).is_none() {
            return Some(format!("peer `{p}` not found on PATH"));
        }
    }
    let vfs = std::fs::read_dir("/usr/lib")
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .any(|e| e.path().join("ganesha/libfsalvfs.so").is_file());
    if !vfs {
        return Some("nfs-ganesha-vfs (ganesha/libfsalvfs.so) is not installed".into());
    }
    let libnfs = Command::new("python3")
        .args(["-c", "import ctypes; ctypes.CDLL('libnfs.so.13')"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    (!libnfs).then(|| "libnfs.so.13 (libnfs13, with libnfs-utils) does not load".into())
}

/// A ganesha.nfsd in the foreground on 127.0.0.1:`port`; killed when dropped (also on panic).
struct Ganesha {
    child: Child,
    dir: tempfile::TempDir,
    port: u16,
}

impl Ganesha {
    fn start() -> Ganesha {
        let dir = tempfile::tempdir().unwrap();
        let (rw, ro, recov) = (
            dir.path().join("rw"),
            dir.path().join("ro"),
            dir.path().join("recovery"),
        );
        for d in [&rw, &ro, &recov] {
            std::fs::create_dir(d).unwrap();
        }
        let port = net::free_port(SERVER.parse().unwrap());
        let export = |id: u32, path: &Path, pseudo: &str, access: &str| {
            format!(
                "EXPORT {{\n  Export_Id = {id};\n  Path = \"{}\";\n  Pseudo = \"{pseudo}\";\n  \
                 Access_Type = {access};\n  Squash = No_Root_Squash;\n  SecType = sys;\n  \
                 Protocols = 4;\n  Transports = TCP;\n  FSAL {{ Name = VFS; }}\n}}\n",
                path.display()
            )
        };
        let conf = format!(
            "NFS_CORE_PARAM {{\n  NFS_Port = {port};\n  Bind_addr = {SERVER};\n  Protocols = 4;\n  \
             Enable_NLM = false;\n  Enable_RQUOTA = false;\n  Enable_UDP = false;\n}}\n\
             NFSv4 {{\n  Graceless = true;\n  RecoveryRoot = \"{}\";\n  Minor_Versions = 0, 1;\n}}\n{}{}",
            recov.display(),
            export(1, &rw, EXPORT, "RW"),
            export(2, &ro, READ_ONLY, "RO"),
        );
        let conf_path = dir.path().join("ganesha.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let child = Command::new("ganesha.nfsd")
            .arg("-F")
            .arg("-f")
            .arg(&conf_path)
            .arg("-L")
            .arg(dir.path().join("ganesha.log"))
            .arg("-p")
            .arg(dir.path().join("ganesha.pid"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start ganesha.nfsd");
        let mut g = Ganesha { child, dir, port };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = g.child.try_wait() {
                panic!("ganesha.nfsd exited ({status}):\n{}", g.log());
            }
            if g.log().contains("NFS SERVER INITIALIZED")
                && std::net::TcpStream::connect((SERVER, port)).is_ok()
            {
                return g;
            }
            assert!(
                Instant::now() < deadline,
                "ganesha.nfsd not serving on {SERVER}:{port} after 20s:\n{}",
                g.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn log(&self) -> String {
        let mut s = String::new();
        if let Ok(f) = std::fs::File::open(self.dir.path().join("ganesha.log")) {
            let _ = f.take(64 * 1024).read_to_string(&mut s);
        }
        s
    }

    fn rw_dir(&self) -> PathBuf {
        self.dir.path().join("rw")
    }
}

impl Drop for Ganesha {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The value of the script's `name=` line, unquoted (`quote`'s `'...'` with `'\''`).
fn assigned(script: &str, name: &str) -> String {
    let v = script
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}=")))
        .unwrap_or_else(|| panic!("the probe script has no {name}= line:\n{script}"));
    let v = v
        .strip_prefix('\'')
        .and_then(|v| v.strip_suffix('\''))
        .unwrap_or(v);
    v.replace("'\\''", "'")
}

/// `program args...` with a 20s limit: (success, stdout, stderr).
fn client(program: &str, args: &[&str]) -> (bool, String, String) {
    let out = Command::new("timeout")
        .arg("20")
        .arg(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The probe script's steps done against ganesha on `port` with libnfs' client; its output in
/// the script's form (same facts, same exit statuses), the client's stderr as the shell's.
fn probe_on_peer(port: u16, script: &str) -> ExecOutcome {
    let target = assigned(script, "target");
    let marker = assigned(script, "marker");
    let (server, export) = target.split_once(':').expect("target is server:/export");
    let opts = format!("?version=4&nfsport={port}");
    let done = |status: u32, stdout: String, stderr: String| ExecOutcome {
        exit_status: Some(status),
        exit_signal: None,
        stdout,
        stderr,
    };
    let (ok, _, err) = client("nfs-ls", &[&format!("nfs://{server}{export}{opts}")]);
    if !ok {
        return done(nfs_probe::EXIT_MOUNT, "nfs.mount=failed\n".into(), err);
    }
    let mut stdout = String::from("nfs.mount=ok\n");
    let file = format!("nfs://{server}{export}/.homelab-probe-{marker}{opts}");
    let local = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(local.path(), &marker).unwrap();
    let (ok, _, err) = client("nfs-cp", &[&local.path().display().to_string(), &file]);
    if !ok {
        stdout.push_str("nfs.write=failed\n");
        return done(nfs_probe::EXIT_WRITE, stdout, err);
    }
    let (_, read, mut stderr) = client("nfs-cat", &[&file]);
    stdout.push_str(&format!("nfs.read={read}\n"));
    let (ok, _, err) = client("python3", &["-c", UNLINK_PY, &file]);
    if !ok {
        stdout.push_str("nfs.remove=failed\n");
        stderr.push_str(&err);
    }
    done(0, stdout, stderr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_probe_against_a_real_nfs_server_matches_the_node_simulator() {
    if let Some(reason) = peers_missing() {
        if std::env::var("HOMELAB_REQUIRE_PEERS").as_deref() == Ok("1") {
            panic!(
                "{reason} and HOMELAB_REQUIRE_PEERS=1: apt-get install nfs-ganesha nfs-ganesha-vfs libnfs-utils (see .ci/run)"
            );
        }
        println!("SKIP: {reason} (apt-get install nfs-ganesha nfs-ganesha-vfs libnfs-utils)");
        return;
    }
    let ganesha = Ganesha::start();
    let port = ganesha.port;
    let peer: NfsPeer = Arc::new(move |script: &str| probe_on_peer(port, script));
    let mut lab = StorageLab::new().await;
    let rw_target = nfs_probe::target(SERVER, EXPORT);
    let ro_target = nfs_probe::target(SERVER, READ_ONLY);
    lab.serve_to_nodes(&ro_target, false);

    // The writable export: the real server and the simulator both give the marker back.
    let mut nfs_evidence = vec![];
    for real in [true, false] {
        lab.set_nfs_peer(real.then(|| peer.clone()));
        let (result, events) = run(&lab.stage(Duration::from_secs(30)), &lab.journal).await;
        let logs = crate::flux_stage::logs(&events);
        result.unwrap_or_else(|e| panic!("real={real}: {e:?}\n{logs:#?}"));
        let ev = evidence(&events)
            .into_iter()
            .find(|e| e.probe == "nfs/k3s-server-1")
            .unwrap_or_else(|| panic!("real={real}: no nfs evidence\n{logs:#?}"));
        assert!(ev.ok && ev.wrote == ev.read, "real={real}: {ev:?}");
        assert!(ev.wrote.starts_with("homelab-"), "{ev:?}");
        assert!(
            !logs.iter().any(|l| l.contains("could not be removed")),
            "real={real}: {logs:#?}"
        );
        nfs_evidence.push(ev);
    }
    // The real server's export is empty again: the marker was removed over NFS.
    let left: Vec<_> = std::fs::read_dir(ganesha.rw_dir())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name())
        .collect();
    assert!(left.is_empty(), "left on the export: {left:?}");

    // The read-only export: the write is refused, by the real server with its own error
    // (NFS4ERR_ROFS, errno 30: EROFS), by the simulator as the shell's `Read-only file
    // system`; the stage names the export as not writable, with the same fix, either way.
    lab.flux.cfg.storage.nfs_export = Some(READ_ONLY.into());
    let mut errors = vec![];
    for real in [true, false] {
        lab.set_nfs_peer(real.then(|| peer.clone()));
        let (result, events) = run(&lab.stage(Duration::from_secs(30)), &lab.journal).await;
        let err = result.expect_err("a read-only export fails the stage");
        let (step, _) = failed_step(&events).unwrap();
        assert_eq!(step, storage::STEP_NFS, "real={real}: {err:?}");
        assert!(
            err.message.starts_with(&format!(
                "NFS export {ro_target} is not writable from k3s-server-1: "
            )),
            "real={real}: {err:?}"
        );
        errors.push(err);
    }
    let (real, sim) = (&errors[0], &errors[1]);
    assert!(real.message.contains("NFS4ERR_ROFS"), "{real:?}");
    assert!(sim.message.contains("Read-only file system"), "{sim:?}");
    assert_eq!(real.hint, sim.hint);
    assert!(
        real.hint.as_deref().unwrap_or("").contains("Read/Write"),
        "{real:?}"
    );
    println!(
        "ganesha on {SERVER}:{port}: {rw_target} read back {:?} in {} ms; {ro_target}: {}",
        nfs_evidence[0].read, nfs_evidence[0].took_ms, real.message
    );
    drop(ganesha);
}
