//! The store without HTTP: metadata, generation, history, deletion.

use super::*;

fn cm_key() -> TypeKey {
    (String::new(), "configmaps".into())
}

#[test]
fn server_metadata_generation_and_history() {
    let s = Store::new(4);
    let dep = (String::from("apps"), String::from("deployments"));
    let d = s
        .create(
            &dep,
            "default",
            json!({"metadata":{"name":"web"},"spec":{"replicas":1}}),
            &WriteOpts::manager("t"),
        )
        .unwrap();
    assert_eq!(d["metadata"]["generation"], 1);
    assert_eq!(d["apiVersion"], "apps/v1");
    assert_eq!(d.pointer("/metadata/managedFields/0/manager").unwrap(), "t");
    let rv: u64 = d["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let mut d2 = d.clone();
    d2["metadata"]["labels"] = json!({"a":"b"});
    let d2 = s
        .replace(&dep, "default", "web", d2, &WriteOpts::manager("t"))
        .unwrap();
    assert_eq!(
        d2["metadata"]["generation"], 1,
        "labels do not bump generation"
    );
    let mut d3 = d2.clone();
    d3["spec"]["replicas"] = json!(2);
    d3["status"] = json!({"replicas": 9});
    let d3 = s
        .replace(&dep, "default", "web", d3, &WriteOpts::manager("t"))
        .unwrap();
    assert_eq!(d3["metadata"]["generation"], 2);
    assert!(
        d3.get("status").is_none(),
        "status goes through /status only"
    );
    // A stale PUT: 409.
    let err = s
        .replace(&dep, "default", "web", d2, &WriteOpts::manager("t"))
        .unwrap_err();
    assert_eq!((err.code, err.reason), (409, "Conflict"));
    // History of 4 per type: rv is still watchable after 3 more events, not after 6.
    assert!(s.watch(&dep, Some(rv)).is_ok());
    for i in 0..4 {
        let mut x = d3.clone();
        x["metadata"]["resourceVersion"] = json!(null);
        x["spec"]["replicas"] = json!(10 + i);
        s.replace(&dep, "default", "web", x, &WriteOpts::manager("t"))
            .unwrap();
    }
    let err = s.watch(&dep, Some(rv)).err().unwrap();
    assert_eq!((err.code, err.reason), (410, "Expired"));
    // Missing namespace.
    let err = s
        .create(
            &cm_key(),
            "nope",
            json!({"metadata":{"name":"c"}}),
            &WriteOpts::manager("t"),
        )
        .unwrap_err();
    assert_eq!(err.message, "namespaces \"nope\" not found");
}

#[test]
fn finalizers_hold_deletion_and_owners_cascade() {
    let s = Store::new(100);
    let k = cm_key();
    let o = WriteOpts::manager("t");
    let owner = s
        .create(
            &k,
            "default",
            json!({"metadata":{"name":"owner","finalizers":["x/y"]}}),
            &o,
        )
        .unwrap();
    let uid = owner["metadata"]["uid"].as_str().unwrap().to_string();
    s.create(&k, "default", json!({"metadata":{"name":"dep","ownerReferences":[{"apiVersion":"v1","kind":"ConfigMap","name":"owner","uid":uid}]}}), &o).unwrap();
    match s
        .delete(&k, "default", "owner", &DeleteOpts::default())
        .unwrap()
    {
        Deleted::Pending(v) => assert!(v.pointer("/metadata/deletionTimestamp").is_some()),
        other => panic!("{other:?}"),
    }
    assert!(
        s.get(&k, "default", "dep").is_err(),
        "background deletion took the dependent"
    );
    assert!(s.get(&k, "default", "owner").is_ok());
    s.patch(
        &k,
        "default",
        "owner",
        Patch::Merge(json!({"metadata":{"finalizers":null}})),
        &o,
    )
    .unwrap();
    assert_eq!(s.get(&k, "default", "owner").unwrap_err().code, 404);
}

#[test]
fn a_namespace_takes_its_content_and_waits_for_finalizers() {
    let s = Store::new(100);
    let o = WriteOpts::manager("t");
    let ns = resources::namespace_key();
    s.create(&ns, "", json!({"metadata":{"name":"apps"}}), &o)
        .unwrap();
    s.create(&cm_key(), "apps", json!({"metadata":{"name":"free"}}), &o)
        .unwrap();
    s.create(
        &cm_key(),
        "apps",
        json!({"metadata":{"name":"held","finalizers":["x/y"]}}),
        &o,
    )
    .unwrap();
    match s.delete(&ns, "", "apps", &DeleteOpts::default()).unwrap() {
        Deleted::Pending(n) => assert_eq!(n["status"]["phase"], "Terminating"),
        other => panic!("{other:?}"),
    }
    assert_eq!(s.get(&cm_key(), "apps", "free").unwrap_err().code, 404);
    let err = s
        .create(&cm_key(), "apps", json!({"metadata":{"name":"new"}}), &o)
        .unwrap_err();
    assert_eq!(err.code, 403);
    // No new finalizer while deleting.
    let err = s
        .patch(
            &cm_key(),
            "apps",
            "held",
            Patch::Merge(json!({"metadata":{"finalizers":["x/y","z/w"]}})),
            &o,
        )
        .unwrap_err();
    assert_eq!((err.code, err.reason), (422, "Invalid"));
    s.patch(
        &cm_key(),
        "apps",
        "held",
        Patch::Json(json!([{"op":"remove","path":"/metadata/finalizers/0"}])),
        &o,
    )
    .unwrap();
    assert_eq!(s.get(&cm_key(), "apps", "held").unwrap_err().code, 404);
    assert_eq!(
        s.get(&ns, "", "apps").unwrap_err().code,
        404,
        "the namespace goes with its last object"
    );
}

#[test]
fn orphan_keeps_dependents_and_pages_continue_in_order() {
    let s = Store::new(100);
    let o = WriteOpts::manager("t");
    let owner = s
        .create(
            &cm_key(),
            "default",
            json!({"metadata":{"name":"owner"}}),
            &o,
        )
        .unwrap();
    let uid = owner["metadata"]["uid"].clone();
    s.create(&cm_key(), "default", json!({"metadata":{"name":"dep","ownerReferences":[{"apiVersion":"v1","kind":"ConfigMap","name":"owner","uid":uid}]}}), &o).unwrap();
    let orphan = DeleteOpts {
        propagation: Some("Orphan".into()),
        ..DeleteOpts::default()
    };
    assert!(matches!(
        s.delete(&cm_key(), "default", "owner", &orphan).unwrap(),
        Deleted::Gone(_)
    ));
    let dep = s.get(&cm_key(), "default", "dep").unwrap();
    assert_eq!(dep["metadata"]["ownerReferences"], json!([]));
    for i in 0..5 {
        s.create(
            &cm_key(),
            "default",
            json!({"metadata":{"name":format!("p{i}"),"labels":{"p":"1"}}}),
            &o,
        )
        .unwrap();
    }
    let sel = Selectors::parse(Some("p=1"), None).unwrap();
    let mut names = vec![];
    let mut cont: Option<String> = None;
    loop {
        let page = s
            .list(&cm_key(), Some("default"), &sel, Some(2), cont.as_deref())
            .unwrap();
        names.extend(
            page.items
                .iter()
                .map(|i| i["metadata"]["name"].as_str().unwrap().to_string()),
        );
        if page.continue_.is_empty() {
            break;
        }
        cont = Some(page.continue_);
    }
    assert_eq!(names, ["p0", "p1", "p2", "p3", "p4"]);
    assert_eq!(
        s.list(&cm_key(), None, &sel, None, Some("!!"))
            .unwrap_err()
            .code,
        400
    );
}

#[test]
fn pages_start_at_their_namespace_and_key_and_share_the_stored_objects() {
    let s = Store::new(16);
    let o = WriteOpts::manager("t");
    for ns in ["a", "b", "c"] {
        s.create(
            &resources::namespace_key(),
            "",
            json!({"metadata":{"name":ns}}),
            &o,
        )
        .unwrap();
        for i in 0..5 {
            s.create(
                &cm_key(),
                ns,
                json!({"metadata":{"name":format!("m{i}")}}),
                &o,
            )
            .unwrap();
        }
    }
    let all = Selectors::default();
    let walk = |ns: Option<&str>| {
        let mut seen = vec![];
        let mut cont: Option<String> = None;
        loop {
            let page = s
                .list_shared(&cm_key(), ns, &all, Some(2), cont.as_deref())
                .unwrap();
            seen.extend(page.items.iter().map(|i| {
                format!(
                    "{}/{}",
                    i["metadata"]["namespace"].as_str().unwrap(),
                    i["metadata"]["name"].as_str().unwrap()
                )
            }));
            if page.continue_.is_empty() {
                assert_eq!(page.remaining, None);
                break;
            }
            assert!(page.remaining.is_some());
            cont = Some(page.continue_);
        }
        seen
    };
    assert_eq!(walk(Some("b")), ["b/m0", "b/m1", "b/m2", "b/m3", "b/m4"]);
    assert_eq!(walk(None).len(), 15);
    assert_eq!(walk(Some("zz")), Vec::<String>::new());
    // A list hands out the stored objects, not copies of them.
    let one = s
        .list_shared(&cm_key(), Some("a"), &all, None, None)
        .unwrap();
    let two = s
        .list_shared(&cm_key(), Some("a"), &all, None, None)
        .unwrap();
    assert!(Arc::ptr_eq(&one.items[0], &two.items[0]));
    // So does a watch from the current state.
    let w = s.watch(&cm_key(), None).unwrap();
    assert_eq!(w.initial.len(), 15);
    assert!(w.initial.iter().any(|o| Arc::ptr_eq(o, &one.items[0])));
}
