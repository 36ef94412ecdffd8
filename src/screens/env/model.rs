//! The editor's document: the dotenv entries being edited, what they were when loaded (for the
//! diff), and an undo history. Pure data, no I/O; every copy of plaintext is zeroized on drop.

use crate::secrets::tree::{Branches, Entry, Node, Scalar};

/// One change, as the diff before saving lists it. Values are never part of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Added(String),
    Removed(String),
    Changed(String),
    Renamed {
        from: String,
        to: String,
        value_changed: bool,
    },
}

/// A snapshot for undo: entries plus their stable ids.
struct Snapshot {
    entries: Branches,
    ids: Vec<u64>,
}

pub struct EnvModel {
    /// Current entries (one branch), zeroized on drop.
    entries: Branches,
    /// A stable id per entry, parallel to `entries`, so renames and edits diff correctly.
    ids: Vec<u64>,
    /// Entries as loaded or last saved, by id.
    original: Branches,
    original_ids: Vec<u64>,
    undo: Vec<Snapshot>,
    next_id: u64,
}

/// Why a key cannot be used.
pub fn check_key(key: &str) -> Result<(), String> {
    if key.is_empty() {
        return Err("the key is empty".into());
    }
    if key.contains('=') || key.contains('\n') {
        return Err("a dotenv key cannot contain `=` or a line break".into());
    }
    if key.starts_with('#') {
        return Err("a key cannot start with `#` (that is a comment)".into());
    }
    if key.starts_with("sops_") {
        return Err("keys starting with `sops_` are reserved for sops metadata".into());
    }
    Ok(())
}

impl EnvModel {
    pub fn new(entries: Vec<Entry>) -> EnvModel {
        let ids: Vec<u64> = (0..entries.len() as u64).collect();
        let next_id = ids.len() as u64;
        EnvModel {
            original: Branches(vec![entries.clone()]),
            original_ids: ids.clone(),
            entries: Branches(vec![entries]),
            ids,
            undo: Vec::new(),
            next_id,
        }
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries.0[0]
    }

    fn entries_mut(&mut self) -> &mut Vec<Entry> {
        &mut self.entries.0[0]
    }

    /// Indexes (into entries) of the key/value rows, optionally only keys containing `filter`
    /// (case-insensitive).
    pub fn rows(&self, filter: &str) -> Vec<usize> {
        let needle = filter.to_lowercase();
        self.entries()
            .iter()
            .enumerate()
            .filter_map(|(i, e)| match e {
                Entry::Pair(k, _) if needle.is_empty() || k.to_lowercase().contains(&needle) => {
                    Some(i)
                }
                _ => None,
            })
            .collect()
    }

    /// The stable id of the entry at `index` (survives edits, renames and other rows' deletion).
    pub fn id(&self, index: usize) -> Option<u64> {
        self.ids.get(index).copied()
    }

    pub fn key(&self, index: usize) -> Option<&str> {
        match self.entries().get(index) {
            Some(Entry::Pair(k, _)) => Some(k),
            _ => None,
        }
    }

    pub fn value(&self, index: usize) -> Option<&str> {
        match self.entries().get(index) {
            Some(Entry::Pair(_, Node::Scalar(Scalar::Str(v)))) => Some(v),
            _ => None,
        }
    }

    /// Is this row different from what was loaded?
    pub fn row_state(&self, index: usize) -> Option<Change> {
        let id = *self.ids.get(index)?;
        let key = self.key(index)?.to_string();
        match self.original_ids.iter().position(|o| *o == id) {
            None => Some(Change::Added(key)),
            Some(o) => {
                let (Entry::Pair(ok, ov), Entry::Pair(_, nv)) =
                    (&self.original.0[0][o], &self.entries()[index])
                else {
                    return None;
                };
                if *ok != key {
                    Some(Change::Renamed {
                        from: ok.clone(),
                        to: key,
                        value_changed: ov != nv,
                    })
                } else if ov != nv {
                    Some(Change::Changed(key))
                } else {
                    None
                }
            }
        }
    }

    fn snapshot(&mut self) {
        self.undo.push(Snapshot {
            entries: self.entries.clone(),
            ids: self.ids.clone(),
        });
    }

    pub fn set_value(&mut self, index: usize, value: String) {
        if self.value(index) == Some(value.as_str()) {
            return;
        }
        self.snapshot();
        if let Some(Entry::Pair(_, node)) = self.entries_mut().get_mut(index) {
            zeroize::Zeroize::zeroize(node);
            *node = Node::Scalar(Scalar::Str(value));
        }
    }

    /// Add a key at the end (as `sops set` appends). Returns its index.
    pub fn add(&mut self, key: String, value: String) -> Result<usize, String> {
        check_key(&key)?;
        self.snapshot();
        self.entries_mut()
            .push(Entry::Pair(key, Node::Scalar(Scalar::Str(value))));
        self.ids.push(self.next_id);
        self.next_id += 1;
        Ok(self.entries().len() - 1)
    }

    pub fn delete(&mut self, index: usize) {
        if self.key(index).is_none() {
            return;
        }
        self.snapshot();
        let mut removed = self.entries_mut().remove(index);
        zeroize::Zeroize::zeroize(&mut removed);
        self.ids.remove(index);
    }

    pub fn rename(&mut self, index: usize, key: String) -> Result<(), String> {
        check_key(&key)?;
        if self.key(index) == Some(key.as_str()) {
            return Ok(());
        }
        self.snapshot();
        if let Some(Entry::Pair(k, _)) = self.entries_mut().get_mut(index) {
            *k = key;
        }
        Ok(())
    }

    /// Undo the last change; false when there is nothing to undo.
    pub fn undo(&mut self) -> bool {
        match self.undo.pop() {
            Some(s) => {
                self.entries = s.entries;
                self.ids = s.ids;
                true
            }
            None => false,
        }
    }

    pub fn is_dirty(&self) -> bool {
        self.entries.0 != self.original.0 || self.ids != self.original_ids
    }

    /// Added, changed, renamed and removed keys, in file order (removed last).
    pub fn diff(&self) -> Vec<Change> {
        let mut out: Vec<Change> = (0..self.entries().len())
            .filter_map(|i| self.row_state(i))
            .collect();
        for (o, id) in self.original_ids.iter().enumerate() {
            if !self.ids.contains(id)
                && let Entry::Pair(k, _) = &self.original.0[0][o]
            {
                out.push(Change::Removed(k.clone()));
            }
        }
        out
    }

    /// The saved state becomes the new original; undo history is dropped.
    pub fn mark_saved(&mut self) {
        self.original = self.entries.clone();
        self.original_ids = self.ids.clone();
        self.undo.clear();
    }

    /// Throw away all edits.
    pub fn discard(&mut self) {
        self.entries = self.original.clone();
        self.ids = self.original_ids.clone();
        self.undo.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> EnvModel {
        EnvModel::new(vec![
            Entry::Comment(" site".into()),
            Entry::pair("A", "1"),
            Entry::pair("B", "2"),
            Entry::pair("C", "3"),
        ])
    }

    #[test]
    fn edits_show_in_the_diff_and_undo_restores() {
        let mut m = model();
        assert!(!m.is_dirty());
        assert_eq!(m.rows(""), vec![1, 2, 3]);
        m.set_value(1, "one".into());
        m.rename(2, "BB".into()).unwrap();
        m.delete(3);
        let added = m.add("D".into(), "multi\nline".into()).unwrap();
        assert_eq!(m.value(added), Some("multi\nline"));
        assert_eq!(
            m.diff(),
            vec![
                Change::Changed("A".into()),
                Change::Renamed {
                    from: "B".into(),
                    to: "BB".into(),
                    value_changed: false
                },
                Change::Added("D".into()),
                Change::Removed("C".into()),
            ]
        );
        while m.undo() {}
        assert!(!m.is_dirty());
        assert!(m.diff().is_empty());
    }

    #[test]
    fn setting_the_same_value_is_not_a_change() {
        let mut m = model();
        m.set_value(1, "1".into());
        assert!(!m.is_dirty());
        assert!(!m.undo());
    }

    #[test]
    fn keys_are_checked() {
        let mut m = model();
        assert!(m.add("".into(), "x".into()).is_err());
        assert!(m.add("A=B".into(), "x".into()).is_err());
        assert!(m.add("sops_mac".into(), "x".into()).is_err());
        assert!(m.rename(1, "#x".into()).is_err());
        assert_eq!(m.rows("b"), vec![2]);
    }

    #[test]
    fn save_and_discard() {
        let mut m = model();
        m.set_value(1, "x".into());
        m.mark_saved();
        assert!(!m.is_dirty());
        m.delete(1);
        m.discard();
        assert_eq!(m.value(1), Some("x"));
    }
}
