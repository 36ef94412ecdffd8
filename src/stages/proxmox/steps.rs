//! The proxmox stage's steps: the plan (image, template, clones, config, start, wait, orphans),
//! whether each step already holds, and executing it through PVE tasks.

use super::*;
use crate::backends::pve::types::{VmResource, guest_ipv4s};
use crate::backends::pve::{DownloadSpec, PveError, TemplateSpec, Upid};
use crate::config::VmConfig;
use crate::stages::engine::*;
use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

impl ProxmoxStage {
    /// Poll a task to its end, streaming its log into the step log and percentages into progress.
    pub(super) async fn wait_task(&self, cx: &StepCx, upid: &Upid) -> StageResult<()> {
        let started = Instant::now();
        let mut next_line = 0u64;
        let mut last_pct = None;
        let mut backoff = crate::stages::poll::Backoff::new(self.timing.poll);
        loop {
            let status = self.pve.task_status(upid).await?;
            if let Ok(lines) = self.pve.task_log(upid, next_line).await {
                for (_, text) in &lines {
                    if let Some(pct) = percent_in(text)
                        && Some(pct) != last_pct
                    {
                        last_pct = Some(pct);
                        cx.progress(pct, Some(100), Unit::Percent).await;
                    }
                    cx.log(text.clone()).await;
                }
                next_line += lines.len() as u64;
            }
            if !status.running {
                return match status.exitstatus.as_deref() {
                    Some("OK") => Ok(()),
                    Some(s) if s.starts_with("WARNINGS") => {
                        cx.log(format!("task ended with {s}")).await;
                        Ok(())
                    }
                    other => Err(PveError::new(
                        format!("task {} on {}", upid.kind, upid.node),
                        crate::backends::pve::PveErrorKind::Task {
                            upid: upid.raw.clone(),
                            exitstatus: other.unwrap_or("unknown").to_owned(),
                        },
                    )
                    .into()),
                };
            }
            if started.elapsed() > self.timing.task_timeout {
                return Err(StageError::new(format!(
                    "task {upid} still running after {:?}",
                    self.timing.task_timeout
                ))
                .with_hint(
                    "look at the task in the PVE web UI (Tasks) and retry when it has finished",
                ));
            }
            cx.sleep(backoff.next_interval()).await?;
        }
    }

    /// Start-and-wait, journalling the UPID first so a killed run can find the task again.
    pub(super) async fn run_task(&self, cx: &StepCx, upid: Upid) -> StageResult<()> {
        cx.note("upid", &upid.raw)?;
        cx.log(format!("task {upid}")).await;
        self.wait_task(cx, &upid).await
    }

    /// A VM locked by a task we started in an earlier (killed) run: wait for that task.
    pub(super) async fn wait_unlocked(
        &self,
        cx: &StepCx,
        node: &str,
        vmid: u32,
    ) -> StageResult<()> {
        if let Some(upid) = cx
            .notes(cx.step_id())
            .get("upid")
            .and_then(|u| Upid::parse(u).ok())
        {
            cx.log(format!(
                "resuming: waiting for task {upid} started by an earlier run"
            ))
            .await;
            let _ = self.wait_task(cx, &upid).await;
        }
        let deadline = Instant::now() + self.timing.task_timeout;
        let mut backoff = crate::stages::poll::Backoff::new(self.timing.poll);
        while let Some(r) = self.find(node, vmid).await? {
            match r.lock {
                Some(l) if Instant::now() < deadline => {
                    cx.log(format!("VM {vmid} is locked ({l}); waiting")).await;
                    cx.sleep(backoff.next_interval()).await?;
                }
                Some(l) => return Err(StageError::new(format!("VM {vmid} stays locked ({l})"))),
                None => break,
            }
        }
        Ok(())
    }

    // ------------------------------------------------------------------------------------------
    // Per-step checks and actions
    // ------------------------------------------------------------------------------------------

    pub(super) async fn check_image(&self, node: &str) -> StageResult<Holds> {
        let vols = self
            .pve
            .storage_content(node, &self.cfg.proxmox.image_storage, "import")
            .await?;
        let volid = self.image_volid();
        Ok(match vols.iter().find(|v| v.volid == volid) {
            Some(v) => Holds::Yes(format!(
                "{volid} on {node} ({})",
                crate::stages::printer::bytes(v.size)
            )),
            None => Holds::No(format!("{volid} is not on {node}")),
        })
    }

    pub(super) async fn check_template_created(
        &self,
        node: &str,
        cx: &StepCx,
    ) -> StageResult<Holds> {
        let (vmid, name) = self.template_on(node);
        match self.find(node, vmid).await? {
            None => Ok(Holds::No(format!("template VM {vmid} does not exist"))),
            Some(r) if !self.ours(&r) => Err(self.not_ours(&r, &format!("template.vmid ({vmid})"))),
            Some(r) if r.node != node => Err(StageError::new(format!(
                "VM {vmid} ({}) is on node {}, expected {node}",
                r.name, r.node
            ))),
            Some(r) => {
                if r.lock.is_some() {
                    self.wait_unlocked(cx, node, vmid).await?;
                    if self.find(node, vmid).await?.is_none() {
                        return Ok(Holds::No(format!(
                            "the earlier creation of VM {vmid} failed; creating it again"
                        )));
                    }
                }
                Ok(Holds::Yes(format!("VM {vmid} ({name}) exists on {node}")))
            }
        }
    }

    pub(super) async fn check_template_converted(&self, node: &str) -> StageResult<Holds> {
        let (vmid, _) = self.template_on(node);
        Ok(match self.find(node, vmid).await? {
            Some(r) if r.template => Holds::Yes(format!("VM {vmid} is a template")),
            Some(_) => Holds::No(format!("VM {vmid} is not a template yet")),
            None => {
                return Err(StageError::new(format!(
                    "template VM {vmid} does not exist"
                )));
            }
        })
    }

    pub(super) async fn check_clone(&self, vm: &VmConfig, cx: &StepCx) -> StageResult<Holds> {
        match self.find(&vm.node, vm.vmid).await? {
            None => Ok(Holds::No(format!("VM {} does not exist", vm.vmid))),
            Some(r) if !self.ours(&r) => Err(self.not_ours(&r, &format!("VM {}", vm.name))),
            Some(r) if r.node != vm.node => Err(StageError::new(format!(
                "VM {} ({}) is on node {}, the definition puts it on {}",
                vm.vmid, r.name, r.node, vm.node
            ))
            .with_hint("migrate it in PVE or change vms[].node in the cluster file")),
            Some(r) if r.template => Err(StageError::new(format!(
                "VMID {} is one of our templates, not a VM",
                vm.vmid
            ))),
            Some(r) => {
                if r.lock.is_some() {
                    self.wait_unlocked(cx, &vm.node, vm.vmid).await?;
                    if self.find(&vm.node, vm.vmid).await?.is_none() {
                        return Ok(Holds::No(format!(
                            "the earlier clone to VM {} failed; cloning again",
                            vm.vmid
                        )));
                    }
                }
                Ok(Holds::Yes(format!(
                    "VM {} ({}) exists on {}",
                    vm.vmid, r.name, r.node
                )))
            }
        }
    }

    pub(super) async fn check_start(&self, vm: &VmConfig) -> StageResult<Holds> {
        let s = self.pve.vm_status(&vm.node, vm.vmid).await?;
        Ok(if s.running {
            Holds::Yes(format!("VM {} is running", vm.vmid))
        } else {
            Holds::No(format!("VM {} is stopped", vm.vmid))
        })
    }

    /// One probe: (agent IP matches, SSH answers), with a description.
    pub(super) async fn probe_vm(&self, vm: &VmConfig, agent: bool) -> (bool, bool, String) {
        let mut parts = Vec::new();
        let agent_ok = if agent {
            match self.pve.guest_interfaces(&vm.node, vm.vmid).await {
                Ok(ifaces) => {
                    let ips = guest_ipv4s(&ifaces);
                    if ips.contains(&vm.ip) {
                        parts.push(format!("guest agent reports {}", vm.ip));
                        true
                    } else if ips.is_empty() {
                        parts.push("guest agent runs, no IPv4 yet".to_owned());
                        false
                    } else {
                        let list: Vec<String> = ips.iter().map(|i| i.to_string()).collect();
                        parts.push(format!(
                            "guest agent reports {} (expected {})",
                            list.join(", "),
                            vm.ip
                        ));
                        false
                    }
                }
                Err(e) => {
                    parts.push(format!(
                        "guest agent: {}",
                        e.reason().unwrap_or("no answer")
                    ));
                    false
                }
            }
        } else {
            true
        };
        let port = self.cfg.ssh.port;
        let ssh_ok = ssh_banner(vm.ip, port, Duration::from_millis(800)).await;
        parts.push(match &ssh_ok {
            Ok(banner) => format!("SSH {}:{port} answers ({banner})", vm.ip),
            Err(e) => format!("SSH {}:{port}: {e}", vm.ip),
        });
        (agent_ok, ssh_ok.is_ok(), parts.join("; "))
    }

    pub(super) async fn check_wait(&self, vm: &VmConfig) -> StageResult<Holds> {
        let agent = self.snippet_present(&vm.node).await;
        let (a, s, what) = self.probe_vm(vm, agent).await;
        Ok(if a && s {
            Holds::Yes(what)
        } else {
            Holds::No(what)
        })
    }

    pub(super) async fn wait_boot(&self, vm: &VmConfig, cx: &StepCx) -> StageResult<()> {
        let agent = self.snippet_present(&vm.node).await;
        if !agent {
            cx.log(format!("no vendor snippet {} on {}: qemu-guest-agent is not installed, waiting for SSH only", self.snippet_volid(), vm.node))
                .await;
        }
        let started = Instant::now();
        let mut last = String::new();
        let mut backoff = crate::stages::poll::Backoff::new(self.timing.poll);
        loop {
            let (a, s, what) = self.probe_vm(vm, agent).await;
            if what != last {
                cx.log(format!("{} ({}s)", what, started.elapsed().as_secs()))
                    .await;
                last = what.clone();
            }
            if a && s {
                return Ok(());
            }
            if started.elapsed() > self.timing.boot_timeout {
                return Err(StageError::new(format!("{} did not come up within {:?}: {what}", vm.name, self.timing.boot_timeout))
                    .with_hint(format!(
                        "open the serial console (`qm terminal {}` on {}) and check cloud-init; check network.gateway, vms[].ip and the bridge",
                        vm.vmid, vm.node
                    )));
            }
            cx.sleep(backoff.next_interval()).await?;
        }
    }

    pub(super) fn orphans(&self, resources: &[VmResource]) -> Vec<VmResource> {
        let ours: BTreeSet<String> = self
            .cfg
            .vms
            .iter()
            .map(|v| self.vm_key(&v.node, v.vmid))
            .collect();
        resources
            .iter()
            .filter(|r| {
                !r.template
                    && r.has_tag(self.tag())
                    && !ours.contains(&self.vm_key(&r.node, r.vmid))
            })
            .cloned()
            .collect()
    }

    /// The VM an `orphan/<vmid>` (`orphan/<node>/<vmid>` on standalone hosts) step is about.
    async fn orphan(&self, step: &Step) -> StageResult<(u32, Option<VmResource>)> {
        let bad = || StageError::new(format!("bad step {}", step.id));
        let key = step.id.strip_prefix("orphan/").ok_or_else(bad)?;
        let (node, id) = match key.split_once('/') {
            Some((node, id)) => (Some(node), id),
            None => (None, key),
        };
        let vmid: u32 = id.parse().map_err(|_| bad())?;
        let all = self.resources().await?;
        let found = all
            .into_iter()
            .find(|r| r.vmid == vmid && node.is_none_or(|n| r.node == n));
        Ok((vmid, found))
    }

    // ------------------------------------------------------------------------------------------
    // Preflight pieces
    // ------------------------------------------------------------------------------------------

    pub(super) async fn plan_steps(&self) -> StageResult<Plan> {
        let mut plan = Plan::new(StageId::Proxmox);
        let resources = self.resources().await?;
        let resolved = self.digest().await?;
        let (algo, sum) = (&resolved.digest.algorithm, &resolved.digest.hex);
        plan.notes.push(resolved.describe());
        let p = &self.cfg.proxmox;
        if self.image_file() != self.cfg.template.image.file_name {
            plan.notes.push(format!(
                "the image is stored as {} (PVE's import content refuses .img; the file is the same qcow2)",
                self.image_file()
            ));
        }
        for node in self.vm_nodes() {
            if self.writes_snippet() {
                plan.steps.push(self.snippet_step(&node).await?);
            }
            let have_image = matches!(self.check_image(&node).await?, Holds::Yes(_));
            plan.steps.push(
                Step::new(format!("image/{node}"), "image", if have_image { Intent::Verify } else { Intent::Create },
                    format!("Ubuntu cloud image on {node}:{}", p.image_storage))
                .call(format!("GET /nodes/{node}/storage/{}/content?content=import", p.image_storage))
                .call(format!(
                    "POST /nodes/{node}/storage/{}/download-url content=import filename={} url={} checksum-algorithm={algo} checksum={sum}",
                    p.image_storage,
                    self.image_file(),
                    self.cfg.template.image.url
                ))
                .call(format!("GET /nodes/{node}/tasks/<upid>/status + /log until stopped")),
            );
            let (tid, tname) = self.template_on(&node);
            let spec = self.template_spec(&node);
            let params: Vec<String> = spec
                .params()
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            let existing = self.locate(&resources, &node, tid);
            let (ci, cnote) = match existing {
                Some(r) if !self.ours(r) => (
                    Intent::Drift,
                    Some(format!("VMID {tid} is taken by `{}`, not ours", r.name)),
                ),
                Some(_) => (Intent::Verify, None),
                None => (Intent::Create, None),
            };
            let mut s = Step::new(
                format!("template/{node}/create"),
                "template",
                ci,
                format!("Template VM {tid} ({tname}) on {node}"),
            )
            .call(format!("POST /nodes/{node}/qemu {}", params.join(" ")));
            s.note = cnote;
            plan.steps.push(s);
            let converted = existing.is_some_and(|r| r.template);
            plan.steps.push(
                Step::new(
                    format!("template/{node}/convert"),
                    "template",
                    if converted {
                        Intent::Verify
                    } else {
                        Intent::Create
                    },
                    format!("Convert VM {tid} to a template"),
                )
                .call(format!("POST /nodes/{node}/qemu/{tid}/template")),
            );
        }
        for vm in &self.cfg.vms {
            let existing = self.locate(&resources, &vm.node, vm.vmid);
            let (tid, _) = self.template_on(&vm.node);
            let subject = vm.name.clone();
            let ours = existing.is_some_and(|r| self.ours(r));
            let configured = existing.is_some_and(|r| r.has_tag(self.tag()));
            let mut clone = Step::new(
                format!("vm/{}/clone", vm.name),
                &subject,
                if existing.is_some() {
                    Intent::Verify
                } else {
                    Intent::Create
                },
                format!(
                    "Full clone of template {tid} to VM {} ({}) on {}",
                    vm.vmid, vm.name, vm.node
                ),
            )
            .call(format!(
                "POST /nodes/{}/qemu/{tid}/clone newid={} name={} full=1 storage={}",
                vm.node, vm.vmid, vm.name, p.vm_storage
            ));
            if let Some(r) = existing.filter(|_| !ours) {
                clone.intent = Intent::Drift;
                clone.note = Some(format!(
                    "VMID {} is taken by `{}` on {}, not tagged {}: the run will stop here",
                    r.vmid,
                    r.name,
                    r.node,
                    self.tag()
                ));
            }
            plan.steps.push(clone);

            let (config_intent, config_note, resize_intent, resize_note) =
                if existing.is_some() && ours {
                    let (changes, notes) = self.config_diff(vm).await?;
                    let ci = match (changes.is_empty(), configured) {
                        (true, _) => Intent::Verify,
                        (false, true) => Intent::Drift,
                        (false, false) => Intent::Create,
                    };
                    let have = self.disk_bytes(vm).await?;
                    let want = vm.disk_bytes();
                    let (ri, rn) = if have >= want {
                        (
                            Intent::Verify,
                            (have > want).then(|| {
                                format!(
                                    "disk is {} (larger than the definition; never shrunk)",
                                    crate::stages::printer::bytes(have)
                                )
                            }),
                        )
                    } else if configured {
                        (
                            Intent::Drift,
                            Some(format!(
                                "disk {} < definition {}",
                                crate::stages::printer::bytes(have),
                                crate::stages::printer::bytes(want)
                            )),
                        )
                    } else {
                        (Intent::Create, None)
                    };
                    (ci, (!notes.is_empty()).then(|| notes.join("; ")), ri, rn)
                } else {
                    (Intent::Create, None, Intent::Create, None)
                };
            let mut rs = Step::new(
                format!("vm/{}/resize", vm.name),
                &subject,
                resize_intent,
                format!("Disk scsi0 to {} GiB", vm.disk_gib),
            )
            .call(format!(
                "PUT /nodes/{}/qemu/{}/resize disk=scsi0 size={}G",
                vm.node, vm.vmid, vm.disk_gib
            ));
            rs.note = resize_note;
            plan.steps.push(rs);
            let snippet = self.snippet_present(&vm.node).await;
            let want = self.desired(vm, snippet);
            let params: Vec<String> = want
                .params
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            let mut cs = Step::new(
                format!("vm/{}/config", vm.name),
                &subject,
                config_intent,
                format!(
                    "Cloud-init, {} cores, {} MiB, tags for VM {}",
                    vm.cores, vm.memory_mib, vm.vmid
                ),
            )
            .call(format!(
                "PUT /nodes/{}/qemu/{}/config {}",
                vm.node,
                vm.vmid,
                params.join(" ")
            ));
            cs.note = config_note;
            plan.steps.push(cs);
            let running = existing.is_some_and(|r| r.status == "running");
            plan.steps.push(
                Step::new(
                    format!("vm/{}/start", vm.name),
                    &subject,
                    if running {
                        Intent::Verify
                    } else {
                        Intent::Create
                    },
                    format!("Start VM {}", vm.vmid),
                )
                .call(format!(
                    "POST /nodes/{}/qemu/{}/status/start",
                    vm.node, vm.vmid
                )),
            );
        }
        for vm in &self.cfg.vms {
            plan.steps.push(
                Step::new(
                    format!("vm/{}/wait", vm.name),
                    &vm.name,
                    Intent::Wait,
                    format!("Wait for {} at {}:{}", vm.name, vm.ip, self.cfg.ssh.port),
                )
                .call(format!(
                    "GET /nodes/{}/qemu/{}/agent/network-get-interfaces until {} shows",
                    vm.node, vm.vmid, vm.ip
                ))
                .call(format!(
                    "TCP {}:{} until an SSH banner answers",
                    vm.ip, self.cfg.ssh.port
                )),
            );
        }
        for r in self.orphans(&resources) {
            plan.steps.push(
                Step::new(format!("orphan/{}", self.vm_key(&r.node, r.vmid)), &r.name, Intent::Drift, format!("VM {} ({}) on {} is tagged {} but not in the definition", r.vmid, r.name, r.node, self.tag()))
                    .call(format!("POST /nodes/{}/qemu/{}/status/stop; DELETE /nodes/{}/qemu/{} (only when reconciling and the operator types `{}`)", r.node, r.vmid, r.node, r.vmid, r.name)),
            );
        }
        Ok(plan)
    }

    pub(super) async fn step_holds(&self, step: &Step, cx: &StepCx) -> StageResult<Holds> {
        let reconcile = cx.options().reconcile;
        let parts: Vec<&str> = step.id.split('/').collect();
        match parts.as_slice() {
            ["image", node] => {
                // A download started by a killed run may still be running: wait for it rather
                // than starting a second one.
                if let Holds::No(_) = self.check_image(node).await?
                    && let Some(upid) = cx
                        .notes(&step.id)
                        .get("upid")
                        .and_then(|u| Upid::parse(u).ok())
                    && self.pve.task_status(&upid).await.is_ok_and(|t| t.running)
                {
                    cx.log(format!(
                        "resuming: waiting for download task {upid} started by an earlier run"
                    ))
                    .await;
                    let _ = self.wait_task(cx, &upid).await;
                }
                self.check_image(node).await
            }
            ["snippet", node] => self.check_snippet(node).await,
            ["template", node, "create"] => self.check_template_created(node, cx).await,
            ["template", node, "convert"] => self.check_template_converted(node).await,
            ["vm", name, "clone"] => self.check_clone(self.vm(name)?, cx).await,
            ["vm", name, "config"] => self.check_config(self.vm(name)?, reconcile).await,
            ["vm", name, "resize"] => self.check_resize(self.vm(name)?, reconcile).await,
            ["vm", name, "start"] => self.check_start(self.vm(name)?).await,
            ["vm", name, "wait"] => self.check_wait(self.vm(name)?).await,
            ["orphan", ..] => {
                let (vmid, found) = self.orphan(step).await?;
                Ok(match found {
                    None => Holds::Yes(format!("VM {vmid} is gone")),
                    Some(r) if reconcile => {
                        Holds::No(format!("VM {vmid} ({}) is not in the definition", r.name))
                    }
                    Some(r) => Holds::Drift(format!(
                        "VM {vmid} ({}) on {} is tagged {} but not in the definition",
                        r.name,
                        r.node,
                        self.tag()
                    )),
                })
            }
            _ => Err(StageError::new(format!("unknown step {}", step.id))),
        }
    }

    pub(super) async fn execute_step(&self, step: &Step, cx: &StepCx) -> StageResult<()> {
        let parts: Vec<&str> = step.id.split('/').collect();
        let p = &self.cfg.proxmox;
        match parts.as_slice() {
            ["image", node] => {
                let digest = &self.digest().await?.digest;
                let spec = DownloadSpec {
                    url: self.cfg.template.image.url.clone(),
                    filename: self.image_file(),
                    content: "import".into(),
                    checksum_algorithm: digest.algorithm.clone(),
                    checksum: digest.hex.clone(),
                };
                let upid = self.pve.download_url(node, &p.image_storage, &spec).await?;
                self.run_task(cx, upid).await
            }
            ["snippet", node] => self.write_snippet(node, cx).await,
            ["template", node, "create"] => {
                let spec = self.template_spec(node);
                let upid = self.pve.create_vm(node, &spec).await?;
                self.run_task(cx, upid).await
            }
            ["template", node, "convert"] => {
                let (vmid, _) = self.template_on(node);
                match self.pve.make_template(node, vmid).await? {
                    Some(upid) => self.run_task(cx, upid).await,
                    None => Ok(()),
                }
            }
            ["vm", name, "clone"] => {
                let vm = self.vm(name)?;
                let (tid, _) = self.template_on(&vm.node);
                let upid = self
                    .pve
                    .clone_vm(&vm.node, tid, vm.vmid, &vm.name, &p.vm_storage)
                    .await
                    .map_err(|e| StageError::from(e).context(&vm.name))?;
                self.run_task(cx, upid).await
            }
            ["vm", name, "config"] => self.apply_config(self.vm(name)?, cx).await,
            ["vm", name, "resize"] => {
                let vm = self.vm(name)?;
                let upid = self
                    .pve
                    .resize_disk(&vm.node, vm.vmid, "scsi0", vm.disk_gib)
                    .await?;
                self.run_task(cx, upid).await
            }
            ["vm", name, "start"] => {
                let vm = self.vm(name)?;
                let upid = self.pve.start_vm(&vm.node, vm.vmid).await?;
                self.run_task(cx, upid).await
            }
            ["vm", name, "wait"] => self.wait_boot(self.vm(name)?, cx).await,
            ["orphan", ..] => {
                let (vmid, found) = self.orphan(step).await?;
                let Some(r) = found else {
                    return Ok(());
                };
                let prompt = Prompt {
                    title: format!("Delete VM {vmid} ({})?", r.name),
                    detail: format!(
                        "VM {vmid} on {} is tagged {} but is not in the cluster definition. Deleting destroys its disks.",
                        r.node,
                        self.tag()
                    ),
                    type_to_confirm: Some(r.name.clone()),
                };
                if !cx.confirm(&prompt).await {
                    cx.log(format!(
                        "VM {vmid} ({}) left in place: deletion was not confirmed",
                        r.name
                    ))
                    .await;
                    return Ok(());
                }
                if r.status == "running" {
                    let upid = self.pve.stop_vm(&r.node, vmid).await?;
                    self.run_task(cx, upid).await?;
                }
                let upid = self.pve.destroy_vm(&r.node, vmid).await?;
                self.run_task(cx, upid).await
            }
            _ => Err(StageError::new(format!("unknown step {}", step.id))),
        }
    }

    pub(super) fn template_spec(&self, node: &str) -> TemplateSpec {
        let (vmid, name) = self.template_on(node);
        TemplateSpec {
            vmid,
            name,
            import_from: self.image_volid(),
            vm_storage: self.cfg.proxmox.vm_storage.clone(),
            bridge: self.cfg.proxmox.bridge.clone(),
            tags: self.template_tag(),
        }
    }
}

/// The last percentage in a PVE task log line (domain::task_log, where the fuzz target runs it).
pub use crate::domain::task_log::percent_in;

/// Connect to `ip:port` and read an SSH banner.
pub async fn ssh_banner(ip: Ipv4Addr, port: u16, timeout: Duration) -> Result<String, String> {
    use tokio::io::AsyncReadExt;
    let work = async {
        let mut s = tokio::net::TcpStream::connect((ip, port))
            .await
            .map_err(|e| e.to_string())?;
        let mut buf = [0u8; 128];
        let n = s.read(&mut buf).await.map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&buf[..n]).trim().to_owned();
        if text.starts_with("SSH-") {
            Ok(text)
        } else {
            Err(format!("not an SSH server (`{text}`)"))
        }
    };
    tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| "no answer".to_owned())?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_from_task_log_lines() {
        assert_eq!(
            percent_in("transferred 1.8 GiB of 3.5 GiB (50.00%)"),
            Some(50)
        );
        assert_eq!(
            percent_in("    62M ........ ........  10% 42.5M 9s"),
            Some(10)
        );
        assert_eq!(percent_in("TASK OK"), None);
        assert_eq!(
            percent_in("Removing image: 100% complete...done."),
            Some(100)
        );
    }
}
