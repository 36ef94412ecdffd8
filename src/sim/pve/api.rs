//! Request handling of the simulated PVE API: authentication, privilege checks and the
//! endpoints of docs/reference/pve.md §4, with PVE's envelopes, reason phrases and `errors` maps.
//!
//! Size: about 1300 lines, one handler per endpoint family behind one router `match`; each
//! handler is short and they share the request, privilege and envelope helpers at the top, so
//! splitting by endpoint would scatter those helpers without making any handler shorter.

use super::state::*;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// A parsed request.
pub struct Req {
    pub method: String,
    /// Below `/api2/json`, percent-decoded per segment.
    pub segs: Vec<String>,
    pub params: BTreeMap<String, String>,
    /// Injected task failure for the task this request starts.
    pub fail_task: Option<String>,
}

/// A non-2xx answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiErr {
    pub status: u16,
    pub reason: String,
    pub errors: Option<BTreeMap<String, String>>,
}

impl ApiErr {
    pub fn new(status: u16, reason: impl Into<String>) -> Self {
        ApiErr {
            status,
            reason: reason.into(),
            errors: None,
        }
    }
    /// `400 Parameter verification failed.` with an `errors` map.
    pub fn params(errors: &[(&str, &str)]) -> Self {
        ApiErr {
            status: 400,
            reason: "Parameter verification failed.".into(),
            errors: Some(
                errors
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
        }
    }
}

type Reply = Result<Value, ApiErr>;

fn need(st: &State, who: &str, path: &str, privilege: &str) -> Result<(), ApiErr> {
    if st.access.allowed(who, path, privilege) {
        Ok(())
    } else {
        Err(ApiErr::new(
            403,
            format!("Permission check failed ({path}, {privilege})"),
        ))
    }
}

fn need_any(st: &State, who: &str, path: &str, privs: &[&str]) -> Result<(), ApiErr> {
    if privs.iter().any(|p| st.access.allowed(who, path, p)) {
        Ok(())
    } else {
        Err(ApiErr::new(
            403,
            format!("Permission check failed ({path}, {})", privs.join("|")),
        ))
    }
}

fn check_node(st: &State, node: &str) -> Result<(), ApiErr> {
    match st.node(node) {
        Some(n) if n.online => Ok(()),
        Some(_) => Err(ApiErr::new(
            595,
            "Errors during connection establishment, proxy handshake: No route to host.",
        )),
        None => Err(ApiErr::new(
            500,
            format!(
                "hostname lookup '{node}' failed - failed to get address info for: {node}: Name or service not known"
            ),
        )),
    }
}

fn vm_on<'a>(st: &'a State, node: &str, id: &str) -> Result<&'a Vm, ApiErr> {
    let vmid: u32 = id
        .parse()
        .map_err(|_| ApiErr::params(&[("vmid", "type check ('integer') failed - got 'x'")]))?;
    st.vms
        .get(&vmid)
        .filter(|vm| vm.node == node)
        .ok_or_else(|| {
            ApiErr::new(
                500,
                format!("Configuration file 'nodes/{node}/qemu-server/{vmid}.conf' does not exist"),
            )
        })
}

/// The VM `id` on `node`, after the checks every change makes: node up, VM there, `privilege`
/// granted, no lock.
fn vm_to_change(
    st: &State,
    who: &str,
    node: &str,
    id: &str,
    privilege: &str,
) -> Result<Vm, ApiErr> {
    check_node(st, node)?;
    let vm = vm_on(st, node, id)?;
    need(st, who, &format!("/vms/{}", vm.vmid), privilege)?;
    not_locked(vm)?;
    Ok(vm.clone())
}

fn not_locked(vm: &Vm) -> Result<(), ApiErr> {
    match &vm.lock {
        Some(l) => Err(ApiErr::new(500, format!("VM is locked ({l})"))),
        None => Ok(()),
    }
}

/// Keys `POST /nodes/{node}/qemu` and `PUT .../config` accept here.
const VM_KEYS: &[&str] = &[
    "name",
    "memory",
    "balloon",
    "cores",
    "sockets",
    "cpu",
    "ostype",
    "scsihw",
    "scsi0",
    "ide2",
    "boot",
    "serial0",
    "vga",
    "agent",
    "net0",
    "tags",
    "ciuser",
    "cipassword",
    "sshkeys",
    "ipconfig0",
    "nameserver",
    "searchdomain",
    "cicustom",
    "description",
    "onboot",
    "delete",
    "digest",
    "pool",
    "citype",
];

fn privilege_for_key(key: &str) -> &'static str {
    match key {
        "cores" | "sockets" | "cpu" => "VM.Config.CPU",
        "memory" | "balloon" => "VM.Config.Memory",
        "scsi0" | "ide2" => "VM.Config.Disk",
        "net0" => "VM.Config.Network",
        "ciuser" | "cipassword" | "sshkeys" | "ipconfig0" | "nameserver" | "searchdomain"
        | "cicustom" | "citype" => "VM.Config.Cloudinit",
        "scsihw" | "ostype" | "serial0" | "vga" => "VM.Config.HWType",
        _ => "VM.Config.Options",
    }
}

/// PVE's `sshkeys` check: already percent-encoded, then each line a known key type.
fn validate_sshkeys(v: &str) -> Result<(), ApiErr> {
    let ok_chars = v
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-_.!~*'()%".contains(&b));
    if !ok_chars {
        let msg = format!("invalid format - invalid urlencoded string: {v}\n");
        return Err(ApiErr::params(&[("sshkeys", &msg)]));
    }
    let decoded = crate::backends::pve::types::percent_decode(v);
    let known = [
        "ssh-ed25519 ",
        "ssh-rsa ",
        "ecdsa-sha2-",
        "sk-ssh-ed25519@openssh.com ",
        "sk-ecdsa-sha2-",
    ];
    for line in decoded.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if !known.iter().any(|k| line.starts_with(k)) {
            return Err(ApiErr::new(500, "SSH public key validation error"));
        }
    }
    Ok(())
}

fn validate_ipconfig(v: &str) -> Result<(), ApiErr> {
    let mut dhcp = false;
    let mut gw = false;
    for kv in v.split(',') {
        let (k, val) = kv.split_once('=').unwrap_or((kv, ""));
        match k {
            "ip" if val == "dhcp" => dhcp = true,
            "ip" => {
                let ok = val.split_once('/').is_some_and(|(a, p)| {
                    a.parse::<std::net::Ipv4Addr>().is_ok()
                        && p.parse::<u8>().is_ok_and(|p| p <= 32)
                });
                if !ok {
                    let msg = format!(
                        "invalid format - format error\nipconfig0.ip: invalid format - invalid IPv4 CIDR '{val}'\n"
                    );
                    return Err(ApiErr::params(&[("ipconfig0", &msg)]));
                }
            }
            "gw" => {
                gw = true;
                if val.parse::<std::net::Ipv4Addr>().is_err() {
                    let msg = "invalid format - format error\nipconfig0.gw: invalid format - value does not look like a valid IPv4 address\n";
                    return Err(ApiErr::params(&[("ipconfig0", msg)]));
                }
            }
            "ip6" | "gw6" => {}
            other => {
                let msg = format!(
                    "invalid format - format error\nipconfig0.{other}: property is not defined in schema\n"
                );
                return Err(ApiErr::params(&[("ipconfig0", &msg)]));
            }
        }
    }
    if dhcp && gw {
        return Err(ApiErr::params(&[(
            "ipconfig0",
            "gateway specified together with DHCP\n",
        )]));
    }
    Ok(())
}

fn validate_vm_params(params: &BTreeMap<String, String>, allow_vmid: bool) -> Result<(), ApiErr> {
    let undefined =
        "property is not defined in schema and the schema does not allow additional properties";
    for k in params.keys() {
        if !(VM_KEYS.contains(&k.as_str()) || (allow_vmid && (k == "vmid" || k == "start"))) {
            return Err(ApiErr::params(&[(k.as_str(), undefined)]));
        }
    }
    for key in ["cores", "sockets", "memory"] {
        if let Some(v) = params.get(key)
            && v.parse::<u64>().map_or(true, |n| n == 0)
        {
            let msg = format!("type check ('integer') failed - got '{v}'");
            return Err(ApiErr::params(&[(key, &msg)]));
        }
    }
    if let Some(v) = params.get("sshkeys") {
        validate_sshkeys(v)?;
    }
    if let Some(v) = params.get("ipconfig0") {
        validate_ipconfig(v)?;
    }
    Ok(())
}

/// Dispatch one authenticated request.
pub fn handle(st: &mut State, who: &str, req: &Req) -> Reply {
    st.tick();
    let segs: Vec<&str> = req.segs.iter().map(String::as_str).collect();
    let p = &req.params;
    match (req.method.as_str(), segs.as_slice()) {
        ("GET", ["version"]) => {
            Ok(json!({"version": st.version, "release": st.release, "repoid": "faa83925c9641325"}))
        }
        ("GET", ["nodes"]) => Ok(Value::Array(
            st.nodes.iter().map(|n| node_json(st, n)).collect(),
        )),
        ("GET", ["cluster", "resources"]) => {
            Ok(resources(st, who, p.get("type").map(String::as_str)))
        }
        ("GET", ["cluster", "nextid"]) => nextid(st, p.get("vmid")),
        ("GET", ["access", "permissions"]) => Ok(permissions(st, who)),
        ("GET", ["nodes", node, "storage"]) => {
            check_node(st, node)?;
            let n = st.node(node).expect("checked");
            let rows = n
                .storages
                .iter()
                .filter(|s| {
                    let path = format!("/storage/{}", s.name);
                    st.access.allowed(who, &path, "Datastore.Audit") || st.access.allowed(who, &path, "Datastore.AllocateSpace")
                })
                .filter(|s| p.get("content").is_none_or(|c| s.content.contains(c)))
                .map(|s| {
                    json!({"storage": s.name, "type": s.kind, "content": s.content.join(","), "active": 1, "enabled": 1,
                       "shared": if s.shared {1} else {0}, "total": s.total, "used": s.used(), "avail": s.avail(),
                       "used_fraction": s.used() as f64 / s.total.max(1) as f64})
                })
                .collect();
            Ok(Value::Array(rows))
        }
        ("GET", ["nodes", node, "storage", storage, "content"]) => {
            check_node(st, node)?;
            need_any(
                st,
                who,
                &format!("/storage/{storage}"),
                &["Datastore.Audit", "Datastore.AllocateSpace"],
            )?;
            let s = st
                .node(node)
                .and_then(|n| n.storage(storage))
                .ok_or_else(|| ApiErr::new(500, format!("storage '{storage}' does not exist")))?;
            let rows = s
                .volume_list()
                .iter()
                .filter_map(|(volid, size)| {
                    let content = content_of(volid);
                    if p.get("content").is_some_and(|c| c != content) {
                        return None;
                    }
                    let format = volid.rsplit('.').next().filter(|e| ["qcow2", "raw", "vmdk", "ova", "img", "iso"].contains(e));
                    let mut row = json!({"volid": volid, "content": content, "size": size, "ctime": 1_717_000_000,
                        "format": format.unwrap_or(if content == "images" {"raw"} else {"txt"})});
                    if let Some(vmid) = vmid_of(volid) {
                        row["vmid"] = json!(vmid);
                    }
                    Some(row)
                })
                .collect();
            Ok(Value::Array(rows))
        }
        ("POST", ["nodes", node, "storage", storage, "download-url"]) => {
            download(st, who, node, storage, req)
        }
        ("GET", ["nodes", node, "network"]) => {
            check_node(st, node)?;
            need(st, who, &format!("/nodes/{node}"), "Sys.Audit")?;
            let n = st.node(node).expect("checked");
            let mut rows = vec![
                json!({"iface": "eno1", "type": "eth", "active": 1, "families": ["inet"], "method": "manual", "priority": 3}),
            ];
            for b in &n.bridges {
                rows.push(json!({"iface": b, "type": "bridge", "active": 1, "autostart": 1, "bridge_ports": "eno1",
                    "families": ["inet"], "method": "static", "priority": 4}));
            }
            if let Some(t) = p.get("type") {
                rows.retain(|r| r["type"] == *t || (t == "any_bridge" && r["type"] == "bridge"));
            }
            Ok(Value::Array(rows))
        }
        ("GET", ["nodes", node, "qemu"]) => {
            check_node(st, node)?;
            let rows = st
                .vms
                .values()
                .filter(|vm| vm.node == *node && st.access.allowed(who, &format!("/vms/{}", vm.vmid), "VM.Audit"))
                .map(|vm| {
                    let mut r = json!({"vmid": vm.vmid, "name": vm.name(), "status": if vm.running {"running"} else {"stopped"},
                        "cpus": vm.cores(), "maxmem": vm.memory_bytes(), "maxdisk": vm.disk_bytes(), "uptime": uptime(vm),
                        "tags": vm.config.get("tags").cloned().unwrap_or_default()});
                    if vm.template() {
                        r["template"] = json!(1);
                    }
                    r
                })
                .collect();
            Ok(Value::Array(rows))
        }
        ("POST", ["nodes", node, "qemu"]) => create_vm(st, who, node, req),
        ("DELETE", ["nodes", node, "qemu", id]) => {
            let vm = &vm_to_change(st, who, node, id, "VM.Allocate")?;
            let vmid = vm.vmid;
            if vm.running {
                return Err(ApiErr::new(
                    500,
                    format!("VM {vmid} is running - destroy failed"),
                ));
            }
            let lines = vec![(0.5, "Removing image: 100% complete...done.".to_string())];
            Ok(simple_task(
                st,
                node,
                "qmdestroy",
                id,
                who,
                lines,
                req.fail_task.clone(),
                Effect::Destroy { vmid },
            ))
        }
        ("POST", ["nodes", node, "qemu", id, "template"]) => {
            let vm = &vm_to_change(st, who, node, id, "VM.Allocate")?;
            let vmid = vm.vmid;
            if vm.running {
                return Err(ApiErr::new(
                    500,
                    "you can't convert a VM to template if VM is running",
                ));
            }
            if vm.template() {
                return Err(ApiErr::new(
                    500,
                    "you can't convert a template to a template",
                ));
            }
            let lines = vec![(
                0.5,
                format!(
                    "Renamed \"vm-{vmid}-disk-0\" to \"base-{vmid}-disk-0\" in volume group \"pve\""
                ),
            )];
            Ok(simple_task(
                st,
                node,
                "qmtemplate",
                id,
                who,
                lines,
                req.fail_task.clone(),
                Effect::MakeTemplate { vmid },
            ))
        }
        ("POST", ["nodes", node, "qemu", id, "clone"]) => clone_vm(st, who, node, id, req),
        ("GET", ["nodes", node, "qemu", id, "config"]) => {
            check_node(st, node)?;
            let vm = vm_on(st, node, id)?;
            need(st, who, &format!("/vms/{}", vm.vmid), "VM.Audit")?;
            let mut obj = Map::new();
            for (k, v) in &vm.config {
                let val = match k.as_str() {
                    "cores" | "sockets" | "template" | "onboot" | "balloon" => v
                        .parse::<u64>()
                        .map(Value::from)
                        .unwrap_or_else(|_| json!(v)),
                    _ => json!(v),
                };
                obj.insert(k.clone(), val);
            }
            obj.insert("digest".into(), json!(State::digest(vm)));
            if let Some(l) = &vm.lock {
                obj.insert("lock".into(), json!(l));
            }
            Ok(Value::Object(obj))
        }
        (m @ ("PUT" | "POST"), ["nodes", node, "qemu", id, "config"]) => {
            check_node(st, node)?;
            let vm = vm_on(st, node, id)?;
            let vmid = vm.vmid;
            for k in p.keys().filter(|k| *k != "digest") {
                let key = if k == "delete" {
                    "description"
                } else {
                    k.as_str()
                };
                need(st, who, &format!("/vms/{vmid}"), privilege_for_key(key))?;
            }
            not_locked(vm)?;
            validate_vm_params(p, false)?;
            if let Some(d) = p.get("digest")
                && *d != State::digest(vm)
            {
                return Err(ApiErr::new(
                    500,
                    "detected modified configuration - file changed by other user? Try again.",
                ));
            }
            let vm = st.vms.get_mut(&vmid).expect("checked");
            for (k, v) in p {
                match k.as_str() {
                    "digest" => {}
                    "delete" => {
                        for key in v.split([',', ';', ' ']).filter(|s| !s.is_empty()) {
                            vm.config.remove(key);
                        }
                    }
                    _ => {
                        vm.config.insert(k.clone(), v.clone());
                    }
                }
            }
            if m == "POST" {
                Ok(simple_task(
                    st,
                    node,
                    "qmconfig",
                    id,
                    who,
                    vec![],
                    None,
                    Effect::None,
                ))
            } else {
                Ok(Value::Null)
            }
        }
        ("PUT", ["nodes", node, "qemu", id, "resize"]) => {
            let vm = &vm_to_change(st, who, node, id, "VM.Config.Disk")?;
            let vmid = vm.vmid;
            let disk = p.get("disk").ok_or_else(|| {
                ApiErr::params(&[("disk", "property is missing and it is not optional")])
            })?;
            let size = p.get("size").ok_or_else(|| {
                ApiErr::params(&[("size", "property is missing and it is not optional")])
            })?;
            let current = vm
                .config
                .get(disk)
                .and_then(|d| crate::backends::pve::types::disk_size(d))
                .ok_or_else(|| ApiErr::new(500, format!("disk '{disk}' does not exist")))?;
            let bad_size = || ApiErr::params(&[("size", "value does not match the regex pattern")]);
            let new = match size.strip_prefix('+') {
                Some(rel) => {
                    current + crate::backends::pve::types::parse_size(rel).ok_or_else(bad_size)?
                }
                None => crate::backends::pve::types::parse_size(size).ok_or_else(bad_size)?,
            };
            if new < current {
                return Err(ApiErr::new(500, "shrinking disks is not supported"));
            }
            let lines = vec![
                (
                    0.3,
                    format!(
                        "  Size of logical volume pve/vm-{vmid}-disk-0 changed from {} to {}.",
                        crate::domain::units::bytes(current),
                        crate::domain::units::bytes(new)
                    ),
                ),
                (
                    0.6,
                    format!("  Logical volume pve/vm-{vmid}-disk-0 successfully resized."),
                ),
            ];
            let d = st.timing.task;
            let effect = Effect::Resize {
                vmid,
                disk: disk.clone(),
                bytes: new,
            };
            Ok(json!(st.start_task(
                node,
                "resize",
                id,
                who,
                d,
                lines,
                req.fail_task.clone(),
                effect,
                Effect::None
            )))
        }
        (
            "POST",
            [
                "nodes",
                node,
                "qemu",
                id,
                "status",
                action @ ("start" | "stop" | "shutdown"),
            ],
        ) => {
            let vm = &vm_to_change(st, who, node, id, "VM.PowerMgmt")?;
            let vmid = vm.vmid;
            if *action == "start" {
                if vm.template() {
                    return Err(ApiErr::new(500, "you can't start a vm if it's a template"));
                }
                if vm.running {
                    return Err(ApiErr::new(500, format!("VM {vmid} already running")));
                }
                let lines = vec![(0.2, "generating cloud-init ISO".to_owned())];
                Ok(simple_task(
                    st,
                    node,
                    "qmstart",
                    id,
                    who,
                    lines,
                    req.fail_task.clone(),
                    Effect::Start { vmid },
                ))
            } else {
                let vm = st.vms.get_mut(&vmid).expect("checked");
                vm.running = false;
                vm.started = None;
                if let Some(h) = st.ssh_listeners.remove(&vmid) {
                    h.abort();
                }
                let d = st.timing.task;
                let kind = if *action == "stop" {
                    "qmstop"
                } else {
                    "qmshutdown"
                };
                Ok(json!(st.start_task(
                    node,
                    kind,
                    id,
                    who,
                    d,
                    vec![],
                    None,
                    Effect::None,
                    Effect::None
                )))
            }
        }
        ("GET", ["nodes", node, "qemu", id, "status", "current"]) => {
            check_node(st, node)?;
            let vm = vm_on(st, node, id)?;
            need(st, who, &format!("/vms/{}", vm.vmid), "VM.Audit")?;
            let mut r = json!({"vmid": vm.vmid, "name": vm.name(), "status": if vm.running {"running"} else {"stopped"},
                "qmpstatus": if vm.running {"running"} else {"stopped"}, "uptime": uptime(vm), "cpus": vm.cores(),
                // Current CPU use, a fraction as PVE reports it: a small steady load per VM.
                "cpu": if vm.running { 0.02 + f64::from(vm.vmid % 7) * 0.01 } else { 0.0 },
                "maxmem": vm.memory_bytes(), "mem": if vm.running { vm.memory_bytes() / 4 } else { 0 }, "maxdisk": vm.disk_bytes(),
                "agent": if vm.config.get("agent").is_some_and(|a| a.contains('1')) {1} else {0}, "ha": {"managed": 0},
                "tags": vm.config.get("tags").cloned().unwrap_or_default()});
            if vm.running {
                r["pid"] = json!(4000 + vm.vmid);
            }
            if vm.template() {
                r["template"] = json!(1);
            }
            if let Some(l) = &vm.lock {
                r["lock"] = json!(l);
            }
            Ok(r)
        }
        ("GET", ["nodes", node, "qemu", id, "agent", "network-get-interfaces"]) => {
            check_node(st, node)?;
            let vm = vm_on(st, node, id)?;
            need_any(
                st,
                who,
                &format!("/vms/{}", vm.vmid),
                &["VM.GuestAgent.Audit", "VM.Monitor"],
            )?;
            if !vm.running {
                return Err(ApiErr::new(500, format!("VM {} is not running", vm.vmid)));
            }
            let with_ips = st.agent_state(vm).map_err(|m| ApiErr::new(500, m))?;
            Ok(json!({"result": agent_interfaces(vm, with_ips)}))
        }
        ("GET", ["nodes", node, "tasks"]) => {
            check_node(st, node)?;
            Ok(task_list(st, who, node, p))
        }
        ("GET", ["nodes", node, "tasks", upid, "status"]) => {
            let t = task(st, who, node, upid)?;
            let now = std::time::Instant::now();
            let mut r = json!({"upid": t.upid, "node": t.node, "pid": t.pid, "pstart": t.pstart, "starttime": t.starttime,
                "type": t.kind, "id": t.id, "user": t.user, "status": if t.done(now) {"stopped"} else {"running"}});
            if t.done(now) {
                r["exitstatus"] = json!(t.exitstatus());
            }
            Ok(r)
        }
        ("GET", ["nodes", node, "tasks", upid, "log"]) => {
            let t = task(st, who, node, upid)?;
            let lines = t.visible_lines(std::time::Instant::now());
            let start: usize = p.get("start").and_then(|s| s.parse().ok()).unwrap_or(0);
            let limit: usize = p.get("limit").and_then(|s| s.parse().ok()).unwrap_or(50);
            let rows: Vec<Value> = lines
                .iter()
                .enumerate()
                .skip(start)
                .take(limit)
                .map(|(i, l)| json!({"n": i + 1, "t": l}))
                .collect();
            Ok(json!(rows))
        }
        (m, _) => Err(ApiErr::new(
            501,
            format!("Method '{m} /{}' not implemented", req.segs.join("/")),
        )),
    }
}

/// `GET /nodes/{node}/tasks` (newest first, as PVE lists them): the caller's own tasks, or all
/// with Sys.Audit on the node; `vmid`, `typefilter` and `limit` filter as in PVE.
fn task_list(st: &State, who: &str, node: &str, p: &BTreeMap<String, String>) -> Value {
    let audit = st
        .access
        .allowed(who, &format!("/nodes/{node}"), "Sys.Audit");
    let now = std::time::Instant::now();
    let limit: usize = p.get("limit").and_then(|s| s.parse().ok()).unwrap_or(50);
    let rows: Vec<Value> = st
        .tasks
        .iter()
        .rev()
        .filter(|t| t.node == node && (audit || t.user == who))
        .filter(|t| p.get("vmid").is_none_or(|v| *v == t.id))
        .filter(|t| p.get("typefilter").is_none_or(|k| *k == t.kind))
        .take(limit)
        .map(|t| {
            let mut r = json!({"upid": t.upid, "node": t.node, "pid": t.pid, "pstart": t.pstart,
                "starttime": t.starttime, "type": t.kind, "id": t.id, "user": t.user});
            if t.done(now) {
                r["status"] = json!(t.exitstatus());
                r["endtime"] = json!(t.starttime + t.duration.as_secs() as i64);
            }
            r
        })
        .collect();
    json!(rows)
}

/// The `total` of a task log answer (added beside `data`, as PVE does).
pub fn log_total(st: &State, segs: &[String]) -> Option<usize> {
    if segs.len() == 5 && segs[0] == "nodes" && segs[2] == "tasks" && segs[4] == "log" {
        let t = st.tasks.iter().find(|t| t.upid == segs[3])?;
        return Some(t.visible_lines(std::time::Instant::now()).len());
    }
    None
}

/// Start a task of the usual length whose failure leaves nothing to undo; its UPID as JSON.
#[allow(clippy::too_many_arguments)]
fn simple_task(
    st: &mut State,
    node: &str,
    kind: &str,
    id: &str,
    who: &str,
    lines: Vec<(f64, String)>,
    failure: Option<String>,
    effect: Effect,
) -> Value {
    let d = st.timing.task;
    json!(st.start_task(node, kind, id, who, d, lines, failure, effect, Effect::None))
}

fn task<'a>(st: &'a State, who: &str, node: &str, upid: &str) -> Result<&'a Task, ApiErr> {
    check_node(st, node)?;
    let t = st
        .tasks
        .iter()
        .find(|t| t.upid == upid && t.node == node)
        .ok_or_else(|| ApiErr::new(500, format!("no such task '{upid}'")))?;
    if t.user != who
        && !st
            .access
            .allowed(who, &format!("/nodes/{node}"), "Sys.Audit")
    {
        return Err(ApiErr::new(
            403,
            format!("Permission check failed (/nodes/{node}, Sys.Audit)"),
        ));
    }
    Ok(t)
}

fn uptime(vm: &Vm) -> u64 {
    vm.started.map(|s| s.elapsed().as_secs()).unwrap_or(0)
}

fn node_json(st: &State, n: &Node) -> Value {
    if !n.online {
        return json!({"node": n.name, "status": "offline", "type": "node", "id": format!("node/{}", n.name)});
    }
    let mut r = json!({"node": n.name, "status": "online", "type": "node", "id": format!("node/{}", n.name), "level": "",
        "cpu": 0.04, "maxcpu": 4, "mem": 3_221_225_472u64, "maxmem": 16_777_216_000u64, "disk": 10_737_418_240u64,
        "maxdisk": 107_374_182_400u64, "uptime": 1_209_600});
    if let Some(fp) = &st.fingerprint {
        r["ssl_fingerprint"] = json!(fp);
    }
    r
}

fn resources(st: &State, who: &str, kind: Option<&str>) -> Value {
    let mut rows = Vec::new();
    if kind.is_none_or(|k| k == "vm") {
        for vm in st.vms.values().filter(|vm| {
            st.access
                .allowed(who, &format!("/vms/{}", vm.vmid), "VM.Audit")
        }) {
            let mut r = json!({"id": format!("qemu/{}", vm.vmid), "type": "qemu", "node": vm.node, "vmid": vm.vmid,
                "name": vm.name(), "status": if vm.running {"running"} else {"stopped"},
                "template": if vm.template() {1} else {0}, "maxcpu": vm.cores(), "maxmem": vm.memory_bytes(),
                "maxdisk": vm.disk_bytes(), "uptime": uptime(vm), "cpu": 0, "mem": 0, "disk": 0,
                "netin": 0, "netout": 0, "diskread": 0, "diskwrite": 0});
            if let Some(t) = vm.config.get("tags") {
                r["tags"] = json!(t);
            }
            if let Some(l) = &vm.lock {
                r["lock"] = json!(l);
            }
            rows.push(r);
        }
    }
    if kind.is_none_or(|k| k == "node") {
        for n in &st.nodes {
            rows.push(json!({"id": format!("node/{}", n.name), "type": "node", "node": n.name,
                "status": if n.online {"online"} else {"offline"}, "maxcpu": 4, "maxmem": 16_777_216_000u64}));
        }
    }
    if kind.is_none_or(|k| k == "storage") {
        for n in &st.nodes {
            for s in &n.storages {
                rows.push(json!({"id": format!("storage/{}/{}", n.name, s.name), "type": "storage", "node": n.name,
                    "storage": s.name, "status": "available", "disk": s.used(), "maxdisk": s.total,
                    "content": s.content.join(","), "plugintype": s.kind, "shared": if s.shared {1} else {0}}));
            }
        }
    }
    Value::Array(rows)
}

fn nextid(st: &State, wanted: Option<&String>) -> Reply {
    if let Some(w) = wanted {
        let id: u32 = w
            .parse()
            .map_err(|_| ApiErr::params(&[("vmid", "type check ('integer') failed")]))?;
        if st.vms.contains_key(&id) {
            let msg = format!("VM {id} already exists");
            return Err(ApiErr::params(&[("vmid", &msg)]));
        }
        return Ok(json!(id.to_string()));
    }
    let id = (100u32..)
        .find(|id| !st.vms.contains_key(id))
        .unwrap_or(100);
    Ok(json!(id.to_string()))
}

fn permissions(st: &State, who: &str) -> Value {
    let mut paths: std::collections::BTreeSet<String> = ["/".to_owned()].into();
    let user = who.split('!').next().unwrap_or(who);
    for principal in [who, user] {
        if let Some(p) = st.access.acl.get(principal) {
            paths.extend(p.keys().cloned());
        }
    }
    let mut out = Map::new();
    for path in paths {
        // privilege -> propagate flag (0/1), as pve-access-control answers it.
        let privs = st.access.effective_flags(who, &path);
        if privs.is_empty() {
            continue;
        }
        out.insert(
            path,
            Value::Object(
                privs
                    .into_iter()
                    .map(|(p, propagates)| (p, json!(u8::from(propagates))))
                    .collect(),
            ),
        );
    }
    Value::Object(out)
}

fn content_of(volid: &str) -> &'static str {
    let rest = volid.split_once(':').map(|(_, r)| r).unwrap_or(volid);
    if rest.starts_with("import/") {
        "import"
    } else if rest.starts_with("iso/") {
        "iso"
    } else if rest.starts_with("snippets/") {
        "snippets"
    } else if rest.starts_with("vztmpl/") {
        "vztmpl"
    } else {
        "images"
    }
}

fn vmid_of(volid: &str) -> Option<u32> {
    let rest = volid.split_once(':')?.1;
    let mut parts = rest.split('-');
    let kind = parts.next()?;
    if kind != "vm" && kind != "base" {
        return None;
    }
    parts.next()?.parse().ok()
}

fn download(st: &mut State, who: &str, node: &str, storage: &str, req: &Req) -> Reply {
    check_node(st, node)?;
    let p = &req.params;
    let missing = "property is missing and it is not optional";
    for key in ["url", "content", "filename"] {
        if !p.contains_key(key) {
            return Err(ApiErr::params(&[(key, missing)]));
        }
    }
    let (url, content, filename) = (&p["url"], &p["content"], &p["filename"]);
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(ApiErr::params(&[(
            "url",
            "value does not match the regex pattern",
        )]));
    }
    match (p.get("checksum"), p.get("checksum-algorithm")) {
        (Some(_), None) => {
            return Err(ApiErr::params(&[(
                "checksum-algorithm",
                "parameter is required by 'checksum'",
            )]));
        }
        (None, Some(_)) => {
            return Err(ApiErr::params(&[(
                "checksum",
                "parameter is required by 'checksum-algorithm'",
            )]));
        }
        _ => {}
    }
    let minor: u32 = st
        .release
        .split('.')
        .nth(1)
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    match content.as_str() {
        "import" if minor < 4 && st.release.starts_with("8.") => {
            return Err(ApiErr::params(&[(
                "content",
                "value 'import' does not have a value in the enumeration 'iso, vztmpl'",
            )]));
        }
        "import" => {
            let ok = [".qcow2", ".raw", ".vmdk", ".ova"]
                .iter()
                .any(|e| filename.ends_with(e));
            if !ok {
                return Err(ApiErr::params(&[(
                    "filename",
                    "invalid filename or wrong extension",
                )]));
            }
        }
        "iso" | "vztmpl" => {}
        _ => {
            return Err(ApiErr::params(&[(
                "content",
                "value does not have a value in the enumeration 'iso, vztmpl, import'",
            )]));
        }
    }
    let spath = format!("/storage/{storage}");
    need(st, who, &spath, "Datastore.AllocateTemplate")?;
    let sys = st.access.allowed(who, "/", "Sys.Audit") && st.access.allowed(who, "/", "Sys.Modify");
    if !sys {
        need(st, who, &format!("/nodes/{node}"), "Sys.AccessNetwork")?;
    }
    let s = st
        .node(node)
        .and_then(|n| n.storage(storage))
        .ok_or_else(|| ApiErr::new(500, format!("storage '{storage}' does not exist")))?;
    if !s.content.iter().any(|c| c == content) {
        return Err(ApiErr::new(
            500,
            format!("storage '{storage}' is not configured for content-type '{content}'"),
        ));
    }
    let dir = if content == "import" {
        "import"
    } else {
        content.as_str()
    };
    let path = format!("/var/lib/vz/{dir}/{filename}");
    let mut lines = vec![(0.0, format!("downloading {url} to {path}"))];
    let image = st.images.iter().find(|i| i.url == *url).cloned();
    let mut failure = req.fail_task.clone();
    let size = image.as_ref().map(|i| i.size).unwrap_or(0);
    match &image {
        None => {
            failure.get_or_insert_with(|| format!("download failed: 404 Not Found ({url})"));
        }
        Some(img) => {
            for step in 1..=10u64 {
                let pct = step * 10;
                let done_mib = (size * pct / 100) >> 20;
                lines.push((
                    step as f64 * 0.085,
                    format!(
                        "{done_mib:>7}M ........ ........ ........ ........ {pct:>3}% 42.5M {}s",
                        10 - step
                    ),
                ));
            }
            lines.push((0.9, format!("download of '{url}' to '{path}' finished")));
            if let (Some(algo), Some(sum)) = (p.get("checksum-algorithm"), p.get("checksum")) {
                lines.push((0.92, format!("calculating checksum of '{path}'...")));
                let actual = if algo == "sha256" {
                    img.sha256.clone()
                } else {
                    format!("{algo}-of-{}", img.sha256)
                };
                if !actual.eq_ignore_ascii_case(sum) {
                    failure.get_or_insert_with(|| {
                        format!("checksum mismatch: got '{actual}' != expect '{sum}'")
                    });
                } else {
                    lines.push((0.95, "checksum verified".into()));
                }
            }
        }
    }
    let volid = format!("{storage}:{dir}/{filename}");
    let effect = Effect::AddVolume {
        node: node.to_owned(),
        storage: storage.to_owned(),
        volid,
        size,
    };
    let d = st.timing.download;
    Ok(json!(st.start_task(
        node,
        "download",
        storage,
        who,
        d,
        lines,
        failure,
        effect,
        Effect::None
    )))
}

fn create_vm(st: &mut State, who: &str, node: &str, req: &Req) -> Reply {
    check_node(st, node)?;
    let p = &req.params;
    let id = p
        .get("vmid")
        .ok_or_else(|| ApiErr::params(&[("vmid", "property is missing and it is not optional")]))?;
    let vmid: u32 = id
        .parse()
        .ok()
        .filter(|v| *v >= 100)
        .ok_or_else(|| ApiErr::params(&[("vmid", "value must have a minimum value of 100")]))?;
    need(st, who, &format!("/vms/{vmid}"), "VM.Allocate")?;
    validate_vm_params(p, true)?;
    if let Some(vm) = st.vms.get(&vmid) {
        return Err(ApiErr::new(
            500,
            format!(
                "unable to create VM {vmid} - VM {vmid} already exists on node '{}'",
                vm.node
            ),
        ));
    }
    let mut config: BTreeMap<String, String> = p
        .iter()
        .filter(|(k, _)| !["vmid", "start", "pool", "digest"].contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut failure = req.fail_task.clone();
    let mut lines = Vec::new();
    let mut disk_size = 0u64;
    if let Some(scsi0) = config.get("scsi0").cloned() {
        let storage = scsi0.split(':').next().unwrap_or_default().to_owned();
        need(
            st,
            who,
            &format!("/storage/{storage}"),
            "Datastore.AllocateSpace",
        )?;
        let import = scsi0
            .split(',')
            .find_map(|kv| kv.strip_prefix("import-from="))
            .map(str::to_owned);
        if let Some(src) = &import {
            let src_storage = src.split(':').next().unwrap_or_default();
            let size = st
                .node(node)
                .and_then(|n| n.storage(src_storage))
                .and_then(|s| s.volumes.get(src))
                .copied();
            match size {
                None => {
                    failure.get_or_insert_with(|| {
                        format!("unable to create VM {vmid} - volume '{src}' does not exist")
                    });
                }
                Some(_) => {
                    disk_size = 3584 << 20;
                    lines.push((0.1, format!("importing disk '{src}' to VM {vmid} ...")));
                    for pct in [25u64, 50, 75, 100] {
                        lines.push((
                            0.1 + pct as f64 / 150.0,
                            format!(
                                "transferred {} of 3.5 GiB ({pct}.00%)",
                                crate::domain::units::bytes(disk_size * pct / 100)
                            ),
                        ));
                    }
                    lines.push((
                        0.85,
                        format!("Successfully imported disk as 'scsi0:{storage}:vm-{vmid}-disk-0'"),
                    ));
                }
            }
        }
        let opts: Vec<&str> = scsi0
            .split(',')
            .skip(1)
            .filter(|kv| !kv.starts_with("import-from="))
            .collect();
        let mut disk = format!("{storage}:vm-{vmid}-disk-0");
        for o in opts {
            disk.push(',');
            disk.push_str(o);
        }
        disk.push_str(&format!(",size={}M", disk_size >> 20));
        config.insert("scsi0".into(), disk);
        if failure.is_none()
            && let Some(s) = st.node_mut(node).and_then(|n| n.storage_mut(&storage))
        {
            s.volumes
                .insert(format!("{storage}:vm-{vmid}-disk-0"), disk_size);
        }
    }
    if let Some(ide2) = config.get("ide2").cloned()
        && ide2.ends_with(":cloudinit")
    {
        let storage = ide2.trim_end_matches(":cloudinit").to_owned();
        config.insert(
            "ide2".into(),
            format!("{storage}:vm-{vmid}-cloudinit,media=cdrom"),
        );
        if let Some(s) = st.node_mut(node).and_then(|n| n.storage_mut(&storage)) {
            s.volumes
                .insert(format!("{storage}:vm-{vmid}-cloudinit"), 4 << 20);
        }
    }
    config
        .entry("smbios1".into())
        .or_insert_with(|| format!("uuid=5c3b2a9e-0000-4000-8000-{vmid:012}"));
    config
        .entry("vmgenid".into())
        .or_insert_with(|| format!("1c7f4e2a-0000-4000-8000-{vmid:012}"));
    let net_mac = format!(
        "BC:24:11:{:02X}:{:02X}:{:02X}",
        (vmid >> 16) & 0xff,
        (vmid >> 8) & 0xff,
        vmid & 0xff
    );
    if let Some(net0) = config.get("net0").cloned()
        && let Some(rest) = net0.strip_prefix("virtio,")
    {
        config.insert("net0".into(), format!("virtio={net_mac},{rest}"));
    }
    st.vms
        .insert(vmid, Vm::new(vmid, node, config).locked("create"));
    let d = st.timing.task * 2;
    Ok(json!(st.start_task(
        node,
        "qmcreate",
        id,
        who,
        d,
        lines,
        failure,
        Effect::Unlock { vmid },
        Effect::RemoveVm { vmid }
    )))
}

fn clone_vm(st: &mut State, who: &str, node: &str, id: &str, req: &Req) -> Reply {
    check_node(st, node)?;
    let p = &req.params;
    let src = vm_on(st, node, id)?.clone();
    need(st, who, &format!("/vms/{}", src.vmid), "VM.Clone")?;
    let newid: u32 = p
        .get("newid")
        .ok_or_else(|| ApiErr::params(&[("newid", "property is missing and it is not optional")]))?
        .parse()
        .ok()
        .filter(|v| *v >= 100)
        .ok_or_else(|| ApiErr::params(&[("newid", "value must have a minimum value of 100")]))?;
    need(st, who, &format!("/vms/{newid}"), "VM.Allocate")?;
    let full = p.get("full").is_some_and(|f| f == "1");
    if p.contains_key("storage") && !full {
        return Err(ApiErr::params(&[(
            "storage",
            "option is only allowed for full clones",
        )]));
    }
    if let Some(target) = p.get("target")
        && target != node
    {
        return Err(ApiErr::new(
            500,
            format!("can't clone VM to node '{target}' (VM uses local storage)"),
        ));
    }
    not_locked(&src)?;
    if let Some(vm) = st.vms.get(&newid) {
        return Err(ApiErr::new(
            500,
            format!(
                "unable to create VM {newid} - VM {newid} already exists on node '{}'",
                vm.node
            ),
        ));
    }
    let storage = p.get("storage").cloned().unwrap_or_else(|| {
        src.config
            .get("scsi0")
            .and_then(|d| d.split(':').next())
            .unwrap_or("local-lvm")
            .to_owned()
    });
    need(
        st,
        who,
        &format!("/storage/{storage}"),
        "Datastore.AllocateSpace",
    )?;
    let mut config = src.config.clone();
    config.remove("template");
    if let Some(name) = p.get("name") {
        config.insert("name".into(), name.clone());
    }
    let size = src.disk_bytes();
    let src_disk = src
        .config
        .get("scsi0")
        .and_then(|d| d.split(',').next())
        .unwrap_or_default()
        .to_owned();
    if let Some(d) = src.config.get("scsi0") {
        let opts: Vec<&str> = d.split(',').skip(1).collect();
        config.insert(
            "scsi0".into(),
            format!("{storage}:vm-{newid}-disk-0,{}", opts.join(",")),
        );
    }
    if let Some(ide2) = src.config.get("ide2")
        && ide2.contains("cloudinit")
    {
        config.insert(
            "ide2".into(),
            format!("{storage}:vm-{newid}-cloudinit,media=cdrom"),
        );
    }
    if let Some(net0) = config.get("net0").cloned() {
        let mac = format!(
            "BC:24:11:{:02X}:{:02X}:{:02X}",
            (newid >> 16) & 0xff,
            (newid >> 8) & 0xff,
            newid & 0xff
        );
        let rest: Vec<&str> = net0.split(',').skip(1).collect();
        config.insert("net0".into(), format!("virtio={mac},{}", rest.join(",")));
    }
    if let Some(s) = st.node_mut(node).and_then(|n| n.storage_mut(&storage)) {
        s.volumes
            .insert(format!("{storage}:vm-{newid}-disk-0"), size);
    }
    let mut lines = vec![(
        0.05,
        format!("create full clone of drive scsi0 ({src_disk})"),
    )];
    if storage.contains("lvm") {
        lines.push((
            0.1,
            format!("  Logical volume \"vm-{newid}-disk-0\" created."),
        ));
    }
    for pct in [20u64, 40, 60, 80, 100] {
        let done = size * pct / 100;
        lines.push((
            0.1 + pct as f64 / 125.0,
            format!(
                "transferred {} of {} ({pct}.00%)",
                crate::domain::units::bytes(done),
                crate::domain::units::bytes(size)
            ),
        ));
    }
    st.vms
        .insert(newid, Vm::new(newid, node, config).locked("clone"));
    let d = st.timing.task * 3;
    let upid = st.start_task(
        node,
        "qmclone",
        id,
        who,
        d,
        lines,
        req.fail_task.clone(),
        Effect::Unlock { vmid: newid },
        Effect::RemoveVm { vmid: newid },
    );
    Ok(json!(upid))
}

fn agent_interfaces(vm: &Vm, with_ips: bool) -> Value {
    let mac = vm
        .config
        .get("net0")
        .and_then(|n| n.split(',').next())
        .and_then(|m| m.split_once('=').map(|(_, mac)| mac.to_lowercase()))
        .unwrap_or_else(|| "bc:24:11:00:00:01".into());
    let lo = json!({"name": "lo", "hardware-address": "00:00:00:00:00:00", "ip-addresses": [
        {"ip-address": "127.0.0.1", "ip-address-type": "ipv4", "prefix": 8},
        {"ip-address": "::1", "ip-address-type": "ipv6", "prefix": 128}]});
    let mut eth0 = json!({"name": "eth0", "hardware-address": mac,
        "statistics": {"rx-bytes": 1_010_657, "rx-dropped": 0, "rx-errs": 0, "rx-packets": 5714, "tx-bytes": 101_065, "tx-dropped": 0, "tx-errs": 0, "tx-packets": 571}});
    if with_ips {
        let mut ips = Vec::new();
        if let Some((ip, prefix)) = vm.static_ip() {
            ips.push(
                json!({"ip-address": ip.to_string(), "ip-address-type": "ipv4", "prefix": prefix}),
            );
        }
        ips.push(json!({"ip-address": "fe80::be24:11ff:fe98:bcad", "ip-address-type": "ipv6", "prefix": 64}));
        eth0["ip-addresses"] = Value::Array(ips);
    }
    json!([lo, eth0])
}
