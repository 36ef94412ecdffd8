//! The health pane's model: the objects the watches reported (`domain::health`) and the rows
//! drawn from them, rebuilt once per batch of changes (a frame only draws the visible rows).
//!
//! Sections, top to bottom: Nodes; Flux as a tree the way `flux-operator tree` draws it
//! (Kustomization -> the HelmReleases and Kustomizations of its `status.inventory` -> their
//! workloads, found by the `helm.toolkit.fluxcd.io/name` label), objects that are not Ready
//! first, each with its root cause (its own Ready message, the failing dependency from
//! `dependsOn`, its failing source, its recent warning events); crash-looping pods; recent
//! warning events.

use crate::domain::health::{
    FluxKind, FluxObject, HealthChange, HealthObject, ListKind, NodeHealth, NodeUsage, PodHealth,
    WarningEvent, WorkloadHealth,
};
use std::collections::{BTreeMap, HashMap, HashSet};

/// Tree depth drawn at most (inventories could point in a circle).
pub const MAX_DEPTH: usize = 8;
/// Warning events listed at most (newest first).
pub const MAX_EVENTS: usize = 50;
/// Indentation of a section's own rows (and of the tree's roots).
pub const SECTION_INDENT: &str = "  ";
/// Recent events shown under a failing object.
pub const CAUSE_EVENTS: usize = 2;

/// One drawn row. Keys point into the model's maps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Row {
    /// A section title and its one-line summary; `bad` colours it.
    Header {
        title: &'static str,
        summary: String,
        bad: bool,
    },
    Node(String),
    /// A Flux object; `prefix` is its tree indentation (`│  ├─ `).
    Flux {
        key: String,
        prefix: String,
    },
    Workload {
        key: String,
        prefix: String,
    },
    /// A pod: under its workload in the tree, or in the crash-loop section (prefix
    /// [`SECTION_INDENT`]).
    Pod {
        key: String,
        prefix: String,
    },
    /// A root cause line under a failing object.
    Cause {
        prefix: String,
        label: &'static str,
        text: String,
    },
    Event(String),
    /// A muted line ("Flux not installed", "none").
    Note(String),
}

impl Row {
    /// Rows the selection stops on.
    pub fn selectable(&self) -> bool {
        matches!(
            self,
            Row::Node(_)
                | Row::Flux { .. }
                | Row::Workload { .. }
                | Row::Pod { .. }
                | Row::Event(_)
        )
    }
}

#[derive(Debug, Default)]
pub struct HealthModel {
    pub nodes: BTreeMap<String, NodeHealth>,
    pub usage: HashMap<String, NodeUsage>,
    pub pods: HashMap<String, PodHealth>,
    pub workloads: BTreeMap<String, WorkloadHealth>,
    pub flux: BTreeMap<String, FluxObject>,
    pub events: HashMap<String, WarningEvent>,
    /// No Flux CRDs are served.
    pub flux_absent: bool,
    /// The last watch trouble (cleared when a list arrives).
    pub trouble: Option<String>,
    /// Why node usage is not shown (cleared by the next usage).
    pub usage_note: Option<String>,
    /// Every watch answered its first list.
    pub connected: bool,
    pub rows: Vec<Row>,
    /// Counts for the headers and the title.
    pub crash_looping: usize,
    /// Pods neither Ready nor Succeeded that are not crash-looping (Pending, failing probes).
    pub pods_not_ready: usize,
    pub nodes_not_ready: usize,
    pub flux_not_ready: usize,
}

/// Lookups built once per rebuild.
struct Index<'a> {
    /// Pods that are not fine, by (namespace, owner kind, owner name).
    bad_pods: &'a HashMap<(&'a str, &'a str, &'a str), Vec<&'a str>>,
    /// Workloads by the HelmRelease (namespace, name) that made them.
    by_release: HashMap<(&'a str, &'a str), Vec<&'a str>>,
}

fn flux_key(kind: FluxKind, ns: &str, name: &str) -> String {
    format!("{}/{ns}/{name}", kind.name())
}

/// Not Ready first (False, then Unknown), then by key.
fn flux_rank(f: &FluxObject) -> u8 {
    match f.ready {
        Some(false) => 0,
        None => 1,
        Some(true) => 2,
    }
}

impl HealthModel {
    /// Apply one batch, then rebuild the rows once.
    pub fn apply(&mut self, batch: Vec<HealthChange>) {
        for c in batch {
            self.apply_one(c);
        }
        self.rebuild();
    }

    fn insert(&mut self, o: HealthObject) {
        let key = o.key();
        match o {
            HealthObject::Node(n) => {
                self.nodes.insert(key, n);
            }
            HealthObject::Pod(p) => {
                self.pods.insert(key, p);
            }
            HealthObject::Workload(w) => {
                self.workloads.insert(key, w);
            }
            HealthObject::Flux(f) => {
                self.flux_absent = false;
                self.flux.insert(key, f);
            }
            HealthObject::Event(e) => {
                self.events.insert(key, e);
            }
        }
    }

    fn apply_one(&mut self, c: HealthChange) {
        match c {
            HealthChange::Upsert(o) => self.insert(o),
            HealthChange::Delete(list, key) => {
                match list {
                    ListKind::Nodes => self.nodes.remove(&key).map(drop),
                    ListKind::Pods => self.pods.remove(&key).map(drop),
                    ListKind::Workloads => self.workloads.remove(&key).map(drop),
                    ListKind::Flux => self.flux.remove(&key).map(drop),
                    ListKind::Events => self.events.remove(&key).map(drop),
                };
            }
            HealthChange::Replace {
                list,
                kind,
                objects,
            } => {
                let prefix = format!("{kind}/");
                match list {
                    ListKind::Nodes => self.nodes.clear(),
                    ListKind::Pods => self.pods.clear(),
                    ListKind::Events => self.events.clear(),
                    ListKind::Workloads => self.workloads.retain(|k, _| !k.starts_with(&prefix)),
                    ListKind::Flux => self.flux.retain(|k, _| !k.starts_with(&prefix)),
                }
                // Kustomizations or HelmReleases listed: Flux is installed (the watches
                // start again when its CRDs appear), even before it has objects.
                if list == ListKind::Flux
                    && matches!(kind.as_str(), "Kustomization" | "HelmRelease")
                {
                    self.flux_absent = false;
                }
                self.trouble = None;
                for o in objects {
                    self.insert(o);
                }
            }
            HealthChange::FluxAbsent => self.flux_absent = true,
            HealthChange::Usage(u) => {
                self.usage_note = None;
                self.usage = u.into_iter().collect();
            }
            HealthChange::UsageUnavailable(why) => self.usage_note = Some(why),
            HealthChange::Trouble(t) => self.trouble = Some(t),
            HealthChange::Connected => self.connected = true,
        }
    }

    /// Kustomizations and HelmReleases (sources are causes, not tree nodes).
    fn tree_children<'a>(&'a self, f: &FluxObject, ix: &Index<'a>) -> (Vec<&'a str>, Vec<&'a str>) {
        let mut flux: Vec<&str> = Vec::new();
        let mut workloads: Vec<&str> = Vec::new();
        match f.kind {
            FluxKind::Kustomization => {
                for r in &f.inventory {
                    if let Some(kind) = FluxKind::from_name(&r.kind) {
                        if let Some((k, _)) =
                            self.flux
                                .get_key_value(&flux_key(kind, &r.namespace, &r.name))
                        {
                            flux.push(k);
                        }
                    } else if let Some((k, _)) = self
                        .workloads
                        .get_key_value(&format!("{}/{}/{}", r.kind, r.namespace, r.name))
                    {
                        workloads.push(k);
                    }
                }
            }
            FluxKind::HelmRelease => {
                if let Some(ws) = ix.by_release.get(&(f.namespace.as_str(), f.name.as_str())) {
                    workloads.extend(ws.iter().copied());
                }
            }
            _ => {}
        }
        flux.sort_by_key(|k| (self.flux.get(*k).map_or(2, flux_rank), *k));
        workloads.sort_by_key(|k| {
            let w = &self.workloads[*k];
            (w.ready >= w.desired, *k)
        });
        (flux, workloads)
    }

    /// The root cause lines of a failing object.
    fn causes(&self, f: &FluxObject, prefix: &str, rows: &mut Vec<Row>) {
        let prefix = prefix.to_string();
        if f.suspended {
            rows.push(Row::Cause {
                prefix: prefix.clone(),
                label: "suspended",
                text: "spec.suspend is true: Flux does not reconcile it".into(),
            });
        }
        if !f.message.is_empty() || !f.reason.is_empty() {
            rows.push(Row::Cause {
                prefix: prefix.clone(),
                label: "cause",
                text: if f.reason.is_empty() {
                    f.message.clone()
                } else {
                    format!("{}: {}", f.reason, f.message)
                },
            });
        }
        for (ns, name) in &f.depends_on {
            match self.flux.get(&flux_key(f.kind, ns, name)) {
                None => rows.push(Row::Cause {
                    prefix: prefix.clone(),
                    label: "dependency",
                    text: format!("{} {ns}/{name} not found", f.kind.name()),
                }),
                Some(d) if !d.is_ready() => rows.push(Row::Cause {
                    prefix: prefix.clone(),
                    label: "dependency",
                    text: format!("{} {ns}/{name} not Ready: {}", f.kind.name(), d.message),
                }),
                Some(_) => {}
            }
        }
        if let Some((kind, ns, name)) = &f.source
            && let Some(k) = FluxKind::from_name(kind)
            && let Some(s) = self.flux.get(&flux_key(k, ns, name))
            && !s.is_ready()
        {
            rows.push(Row::Cause {
                prefix: prefix.clone(),
                label: "source",
                text: format!("{kind} {ns}/{name}: {}: {}", s.reason, s.message),
            });
        }
        let mut evs: Vec<&WarningEvent> = self
            .events
            .values()
            .filter(|e| {
                e.namespace == f.namespace
                    && e.object_kind == f.kind.name()
                    && e.object_name == f.name
            })
            .collect();
        evs.sort_by_key(|e| std::cmp::Reverse(e.last_seen));
        // An event that repeats the condition's message adds nothing.
        evs.retain(|e| e.message != f.message);
        for e in evs.into_iter().take(CAUSE_EVENTS) {
            rows.push(Row::Cause {
                prefix: prefix.clone(),
                label: "event",
                text: format!("{}: {}", e.reason, e.message),
            });
        }
    }

    /// `key`'s row and its subtree. `row_prefix` goes before its own row, `guide` before
    /// its children's branches (`│  ` where an ancestor has siblings below).
    #[allow(clippy::too_many_arguments)]
    fn flux_subtree(
        &self,
        key: &str,
        row_prefix: String,
        guide: &str,
        depth: usize,
        seen: &mut HashSet<String>,
        ix: &Index,
        rows: &mut Vec<Row>,
    ) {
        let Some(f) = self.flux.get(key) else { return };
        if depth >= MAX_DEPTH || !seen.insert(key.to_string()) {
            return;
        }
        rows.push(Row::Flux {
            key: key.to_string(),
            prefix: row_prefix,
        });
        let (flux, workloads) = self.tree_children(f, ix);
        let n = flux.len() + workloads.len();
        if !f.is_ready() {
            let bar = if n > 0 { "│ " } else { "  " };
            self.causes(f, &format!("{guide}{bar}"), rows);
        }
        let branch = |i: usize| {
            let last = i + 1 == n;
            (
                format!("{guide}{}", if last { "└─ " } else { "├─ " }),
                format!("{guide}{}", if last { "   " } else { "│  " }),
            )
        };
        for (i, k) in flux.iter().enumerate() {
            let (row, child) = branch(i);
            self.flux_subtree(k, row, &child, depth + 1, seen, ix, rows);
        }
        for (i, k) in workloads.iter().enumerate() {
            let w = &self.workloads[*k];
            let (row, child) = branch(flux.len() + i);
            rows.push(Row::Workload {
                key: k.to_string(),
                prefix: row,
            });
            if let Some(pods) =
                ix.bad_pods
                    .get(&(w.namespace.as_str(), w.kind.as_str(), w.name.as_str()))
            {
                for (j, p) in pods.iter().enumerate() {
                    let last = j + 1 == pods.len();
                    rows.push(Row::Pod {
                        key: p.to_string(),
                        prefix: format!("{child}{}", if last { "└─ " } else { "├─ " }),
                    });
                }
            }
        }
    }

    /// Rebuild the rows from the maps (once per batch).
    pub fn rebuild(&mut self) {
        let mut rows = Vec::new();
        // Nodes.
        let ready = self
            .nodes
            .values()
            .filter(|n| n.ready == Some(true))
            .count();
        let pressured = self.nodes.values().any(|n| !n.pressure.is_empty());
        rows.push(Row::Header {
            title: "Nodes",
            summary: format!("{ready}/{} Ready", self.nodes.len()),
            bad: ready < self.nodes.len() || pressured,
        });
        if self.nodes.is_empty() {
            rows.push(Row::Note("no nodes reported yet".into()));
        }
        rows.extend(self.nodes.keys().map(|k| Row::Node(k.clone())));

        // Pods that are not fine, by owner (for the tree) and the crash loops.
        let mut bad_pods: HashMap<(&str, &str, &str), Vec<&str>> = HashMap::new();
        let mut looping: Vec<(&String, &PodHealth)> = Vec::new();
        let mut not_ready = 0;
        for (k, p) in &self.pods {
            let bad = p.crash_looping() || (!p.ready && p.phase != "Succeeded");
            if bad && !p.crash_looping() {
                not_ready += 1;
            }
            if bad && let Some((kind, name)) = &p.owner {
                bad_pods
                    .entry((p.namespace.as_str(), kind.as_str(), name.as_str()))
                    .or_default()
                    .push(k);
            }
            if p.crash_looping() {
                looping.push((k, p));
            }
        }
        for v in bad_pods.values_mut() {
            v.sort_unstable();
        }
        self.pods_not_ready = not_ready;
        self.nodes_not_ready = self.nodes.len() - ready;

        // Flux.
        self.flux_not_ready = self.flux.values().filter(|f| !f.is_ready()).count();

        if self.flux_absent {
            rows.push(Row::Header {
                title: "Flux",
                summary: "not installed".into(),
                bad: false,
            });
            rows.push(Row::Note(
                "no Flux CRDs are served (kustomize.toolkit.fluxcd.io, helm.toolkit.fluxcd.io)"
                    .into(),
            ));
        } else {
            rows.push(Row::Header {
                title: "Flux",
                summary: if self.flux_not_ready == 0 {
                    format!("{} objects, all Ready", self.flux.len())
                } else {
                    format!("{} of {} not Ready", self.flux_not_ready, self.flux.len())
                },
                bad: self.flux_not_ready > 0,
            });
            // Roots: objects no Kustomization lists in its inventory.
            let mut listed: HashSet<String> = HashSet::new();
            for f in self.flux.values() {
                for r in &f.inventory {
                    if let Some(k) = FluxKind::from_name(&r.kind) {
                        listed.insert(flux_key(k, &r.namespace, &r.name));
                    }
                }
            }
            let mut roots: Vec<(&String, &FluxObject)> = self
                .flux
                .iter()
                .filter(|(k, f)| !f.kind.is_source() && !listed.contains(*k))
                .collect();
            roots.sort_by_key(|(k, f)| (flux_rank(f), *k));
            let mut by_release: HashMap<(&str, &str), Vec<&str>> = HashMap::new();
            for (k, w) in &self.workloads {
                if let Some((ns, name)) = &w.release {
                    by_release
                        .entry((ns.as_str(), name.as_str()))
                        .or_default()
                        .push(k);
                }
            }
            let ix = Index {
                bad_pods: &bad_pods,
                by_release,
            };
            let mut seen = HashSet::new();
            for (k, _) in roots {
                self.flux_subtree(
                    k,
                    SECTION_INDENT.into(),
                    SECTION_INDENT,
                    0,
                    &mut seen,
                    &ix,
                    &mut rows,
                );
            }
            // Sources that fail and nothing above named (a GitRepository no one uses).
            for (k, s) in self.flux.iter().filter(|(_, f)| f.kind.is_source()) {
                if !s.is_ready() {
                    rows.push(Row::Flux {
                        key: k.clone(),
                        prefix: SECTION_INDENT.into(),
                    });
                    self.causes(s, "    ", &mut rows);
                }
            }
            if self.flux.is_empty() {
                rows.push(Row::Note("no Flux objects yet".into()));
            }
        }

        // Crash-looping pods, most restarts first.
        looping.sort_by(|a, b| b.1.restarts.cmp(&a.1.restarts).then(a.0.cmp(b.0)));
        self.crash_looping = looping.len();
        rows.push(Row::Header {
            title: "Crash-looping pods",
            summary: looping.len().to_string(),
            bad: !looping.is_empty(),
        });
        if looping.is_empty() {
            rows.push(Row::Note("none".into()));
        }
        rows.extend(looping.into_iter().map(|(k, _)| Row::Pod {
            key: k.clone(),
            prefix: SECTION_INDENT.into(),
        }));

        // Warning events, newest first.
        let mut evs: Vec<(&String, &WarningEvent)> = self.events.iter().collect();
        evs.sort_by(|a, b| b.1.last_seen.cmp(&a.1.last_seen).then(a.0.cmp(b.0)));
        rows.push(Row::Header {
            title: "Warning events",
            summary: evs.len().to_string(),
            bad: !evs.is_empty(),
        });
        if evs.is_empty() {
            rows.push(Row::Note("none".into()));
        }
        rows.extend(
            evs.into_iter()
                .take(MAX_EVENTS)
                .map(|(k, _)| Row::Event(k.clone())),
        );
        self.rows = rows;
    }
}
