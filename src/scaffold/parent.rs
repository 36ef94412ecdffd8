//! Add the app's folder to its group's `kustomization.yaml` in place: a line inserted into the
//! `resources:` block list, every other byte (comments, order, blank lines) kept. No
//! re-serialization: a file this edit does not understand is refused with the reason.

/// The new text of `text` with `entry` added to its top-level `resources:` list: after the
/// last entry that sorts before it when the list is sorted, else at the end of the list.
pub fn add_resource(text: &str, entry: &str, file: &str) -> Result<String, String> {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let Some(start) = lines.iter().position(|l| {
        let t = l.trim_end();
        t == "resources:" || t.starts_with("resources: #") || t.starts_with("resources:  #")
    }) else {
        if lines.iter().any(|l| l.starts_with("resources:")) {
            return Err(format!(
                "{file}: `resources:` is not a block list (one `  - item` per line); edit it by hand to add `{entry}`"
            ));
        }
        let mut out = text.to_string();
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(&format!("resources:\n  - {entry}\n"));
        return Ok(out);
    };
    // The list: the lines after `resources:` that are items, comments or blank, up to the
    // next top-level key.
    let mut items: Vec<(usize, &str)> = Vec::new();
    let mut indent: Option<&str> = None;
    let mut end = start + 1;
    for (i, l) in lines.iter().enumerate().skip(start + 1) {
        let t = l.trim_end_matches(['\n', '\r']);
        let trimmed = t.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            if t.starts_with([' ', '-']) || trimmed.is_empty() {
                continue;
            }
            break; // a top-level comment belongs to what follows
        }
        if let Some(rest) = trimmed.strip_prefix("- ") {
            let ind = &t[..t.len() - trimmed.len()];
            match indent {
                None => indent = Some(ind),
                Some(prev) if prev != ind => {
                    return Err(format!(
                        "{file}:{}: the resources list mixes indentations; edit it by hand to add `{entry}`",
                        i + 1
                    ));
                }
                Some(_) => {}
            }
            let value = rest.split(" #").next().unwrap_or(rest).trim();
            let value = value.trim_matches(['"', '\'']);
            if value == entry || value == format!("{entry}/") || value == format!("./{entry}") {
                return Err(format!(
                    "{file}:{}: `{entry}` is already listed in resources",
                    i + 1
                ));
            }
            items.push((i, value));
            end = i + 1;
            continue;
        }
        if t.starts_with(' ') {
            return Err(format!(
                "{file}:{}: the resources list holds something other than `- item` lines; edit it by hand to add `{entry}`",
                i + 1
            ));
        }
        break;
    }
    let indent = indent.unwrap_or("  ");
    let sorted = items.windows(2).all(|w| w[0].1 <= w[1].1);
    let at = if sorted {
        items
            .iter()
            .filter(|(_, v)| *v < entry)
            .map(|(i, _)| i + 1)
            .next_back()
            .unwrap_or_else(|| items.first().map(|(i, _)| *i).unwrap_or(start + 1))
    } else {
        end
    };
    let newline = if text.contains("\r\n") { "\r\n" } else { "\n" };
    let mut out = String::with_capacity(text.len() + entry.len() + 8);
    for (i, l) in lines.iter().enumerate() {
        if i == at {
            out.push_str(&format!("{indent}- {entry}{newline}"));
        }
        out.push_str(l);
        if i + 1 == lines.len() && i + 1 == at && !l.ends_with('\n') {
            out.push_str(newline);
        }
    }
    if at >= lines.len() {
        if !out.ends_with('\n') {
            out.push_str(newline);
        }
        out.push_str(&format!("{indent}- {entry}{newline}"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MEDIA: &str = "# Media stack (memo 8.1).\napiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - library-pvc.yaml\n  - jellyfin\n  # requests\n  - jellyseer\n  - navidrome\n";

    #[test]
    fn sorted_lists_get_the_entry_in_order_and_keep_comments() {
        let out = add_resource(
            "kind: Kustomization\nresources:\n  # first\n  - alpha\n  - gamma # note\n",
            "beta",
            "k",
        )
        .unwrap();
        assert_eq!(
            out,
            "kind: Kustomization\nresources:\n  # first\n  - alpha\n  - beta\n  - gamma # note\n"
        );
        let first = add_resource("resources:\n  - b\n  - c\n", "a", "k").unwrap();
        assert_eq!(first, "resources:\n  - a\n  - b\n  - c\n");
        let last = add_resource("resources:\n  - b\n  - c\nlabels: {}\n", "d", "k").unwrap();
        assert_eq!(last, "resources:\n  - b\n  - c\n  - d\nlabels: {}\n");
    }

    #[test]
    fn unsorted_lists_get_it_at_the_end() {
        let out = add_resource(MEDIA, "audiobookshelf", "k").unwrap();
        assert_eq!(out, format!("{MEDIA}  - audiobookshelf\n"));
        let no_newline = add_resource("resources:\n  - z\n  - a", "m", "k").unwrap();
        assert_eq!(no_newline, "resources:\n  - z\n  - a\n  - m\n");
    }

    #[test]
    fn refusals_name_the_line() {
        let e = add_resource("resources: [a, b]\n", "c", "k.yaml").unwrap_err();
        assert!(e.contains("not a block list"), "{e}");
        let e = add_resource("resources:\n  - a\n  - c\n", "c", "k.yaml").unwrap_err();
        assert_eq!(e, "k.yaml:3: `c` is already listed in resources");
        let e = add_resource("resources:\n  - a\n    - b\n", "c", "k.yaml").unwrap_err();
        assert!(e.starts_with("k.yaml:3:"), "{e}");
    }

    #[test]
    fn a_file_without_resources_gets_the_list() {
        let out = add_resource("kind: Kustomization\n", "a", "k").unwrap();
        assert_eq!(out, "kind: Kustomization\nresources:\n  - a\n");
    }
}

/// The new text of `text` with `- name: dep` added to the `spec.dependsOn` list of the
/// document whose lines are `first..first + count` (1-based first line): after the list's last
/// item, or a new `dependsOn:` right after `spec:`. Every other byte is kept.
pub fn add_depends_on(
    text: &str,
    first: usize,
    count: usize,
    dep: &str,
    file: &str,
) -> Result<String, String> {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let start = first.saturating_sub(1).min(lines.len());
    let end = start.saturating_add(count).min(lines.len());
    let body = |l: &str| l.trim_end_matches(['\n', '\r']).to_string();
    let spec = (start..end)
        .find(|&i| body(lines[i]) == "spec:")
        .ok_or_else(|| format!("{file}:{first}: the Kustomization has no `spec:` line to add dependsOn under; add `- name: {dep}` to its spec.dependsOn by hand"))?;
    let depends = (spec + 1..end).find(|&i| {
        let b = body(lines[i]);
        b.trim_start() == "dependsOn:" && b.starts_with(' ') && !b.starts_with("   ")
    });
    let (at, insert) = match depends {
        Some(d) => {
            let key_indent = body(lines[d]).len() - body(lines[d]).trim_start().len();
            let mut last = None;
            let mut item_indent = " ".repeat(key_indent + 2);
            for (i, l) in lines.iter().enumerate().take(end).skip(d + 1) {
                let b = body(l);
                let ind = b.len() - b.trim_start().len();
                let t = b.trim_start();
                if t.is_empty() || t.starts_with('#') {
                    continue;
                }
                if ind <= key_indent && !t.starts_with("- ") || ind < key_indent {
                    break;
                }
                if let Some(rest) = t.strip_prefix("- ") {
                    item_indent = " ".repeat(ind);
                    if rest.trim() == format!("name: {dep}") {
                        return Ok(text.to_string());
                    }
                    if !rest.trim_start().starts_with("name:") {
                        return Err(format!(
                            "{file}:{}: a dependsOn item this edit does not read; add `- name: {dep}` by hand",
                            i + 1
                        ));
                    }
                }
                last = Some(i);
            }
            let at = last.map(|i| i + 1).unwrap_or(d + 1);
            (at, format!("{item_indent}- name: {dep}\n"))
        }
        None => (spec + 1, format!("  dependsOn:\n    - name: {dep}\n")),
    };
    let mut out = String::with_capacity(text.len() + insert.len() + 1);
    for (i, l) in lines.iter().enumerate() {
        if i == at {
            out.push_str(&insert);
        }
        out.push_str(l);
        if i + 1 == at && !l.ends_with('\n') {
            out.push('\n');
        }
    }
    if at >= lines.len() {
        out.push_str(&insert);
    }
    Ok(out)
}

#[cfg(test)]
mod depends_tests {
    use super::*;

    const APPS: &str = "# groups\napiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: apps-a\nspec:\n  dependsOn:\n    - name: gateway\n  path: ./a\n---\n# demos\napiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: apps-b\nspec:\n  dependsOn:\n    - name: gateway\n    # traces\n    - name: otel-collector\n  interval: 30m\n";

    #[test]
    fn the_item_goes_after_the_last_one_of_that_document_only() {
        let out = add_depends_on(APPS, 11, 11, "nfs-subdir", "apps.yaml").unwrap();
        assert_eq!(
            out,
            APPS.replace(
                "    - name: otel-collector\n",
                "    - name: otel-collector\n    - name: nfs-subdir\n"
            )
        );
        let out = add_depends_on(APPS, 1, 9, "longhorn", "apps.yaml").unwrap();
        assert_eq!(
            out,
            APPS.replacen(
                "    - name: gateway\n",
                "    - name: gateway\n    - name: longhorn\n",
                1
            )
        );
        assert_eq!(
            add_depends_on(APPS, 1, 9, "gateway", "apps.yaml").unwrap(),
            APPS
        );
    }

    #[test]
    fn a_document_without_depends_on_gets_one() {
        let t = "kind: Kustomization\nspec:\n  path: ./x\n";
        assert_eq!(
            add_depends_on(t, 1, 3, "longhorn", "f").unwrap(),
            "kind: Kustomization\nspec:\n  dependsOn:\n    - name: longhorn\n  path: ./x\n"
        );
    }
}
