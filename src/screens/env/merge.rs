//! "Merge" after a save found the file changed on disk: the editor's changes (against what it
//! loaded) applied on top of the file as it is now. Keys the editor did not touch keep the other
//! writer's values; keys it changed, added, renamed or removed win.

use super::model::{Change, EnvModel};
use crate::secrets::tree::Entry;

/// A model whose original is `theirs` (the file now), dirty with exactly `mine`'s changes.
pub fn merge(mine: &EnvModel, theirs: Vec<Entry>) -> EnvModel {
    let mut out = EnvModel::new(theirs);
    let index_of =
        |m: &EnvModel, key: &str| (0..m.entries().len()).find(|&i| m.key(i) == Some(key));
    let value_of = |key: &str| {
        index_of(mine, key)
            .and_then(|i| mine.value(i))
            .unwrap_or_default()
            .to_string()
    };
    let put = |out: &mut EnvModel, key: &str, value: String| match index_of(out, key) {
        Some(i) => out.set_value(i, value),
        None => {
            let _ = out.add(key.to_string(), value);
        }
    };
    for change in mine.diff() {
        match change {
            Change::Added(k) | Change::Changed(k) => put(&mut out, &k, value_of(&k)),
            Change::Removed(k) => {
                if let Some(i) = index_of(&out, &k) {
                    out.delete(i);
                }
            }
            Change::Renamed { from, to, .. } => {
                if let Some(i) = index_of(&out, &from) {
                    out.delete(i);
                }
                put(&mut out, &to, value_of(&to));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(pairs: &[(&str, &str)]) -> Vec<Entry> {
        pairs.iter().map(|(k, v)| Entry::pair(*k, *v)).collect()
    }

    #[test]
    fn my_changes_land_on_their_file_and_their_other_changes_stay() {
        let mut mine = EnvModel::new(entries(&[("A", "1"), ("B", "1"), ("C", "1")]));
        mine.set_value(0, "mine".into());
        mine.delete(2);
        mine.add("D".into(), "new".into()).unwrap();
        // Meanwhile someone set B and added E on disk.
        let theirs = entries(&[("A", "1"), ("B", "theirs"), ("C", "1"), ("E", "theirs")]);
        let merged = merge(&mine, theirs);
        let now: Vec<(String, String)> = (0..merged.entries().len())
            .map(|i| {
                (
                    merged.key(i).unwrap().to_string(),
                    merged.value(i).unwrap().to_string(),
                )
            })
            .collect();
        let want = [
            ("A", "mine"),
            ("B", "theirs"),
            ("E", "theirs"),
            ("D", "new"),
        ];
        assert_eq!(
            now,
            want.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<Vec<_>>()
        );
        assert_eq!(merged.diff().len(), 3, "A changed, D added, C removed");
    }
}
