//! The contract suite every [`MetaStore`] implementation passes. Tests call [`run_all`] with a
//! fresh store of each backend, so the backends cannot drift apart.

use crate::{AddOutcome, MetaStore, StoreError};
use gyre_core::{
    ContentHash, DatasetName, DatasetProfile, DatasetRef, FileEntry, FileFormat, Manifest,
    NewDatasetVersion, ReadOptions,
};
use std::sync::Arc;

/// A version of `dataset` with a given id (the store does not recompute ids, so tests can
/// choose them, for instance to share a prefix).
pub fn sample_version(dataset: &str, id: ContentHash, rows: u64) -> NewDatasetVersion {
    let profile: DatasetProfile = serde_json::from_value(serde_json::json!({
        "rows": rows,
        "columns": [{
            "name": "x", "type": "float", "count": rows, "nulls": 0, "distinct": rows,
            "distinct_exact": true, "top_values": [], "other_count": rows, "top_exact": true,
            "numeric": {
                "min": 0.1, "max": 1e300, "mean": 0.30000000000000004, "std": 1.0 / 3.0,
                "zeros": 0, "infinite": 1, "exact": true,
                "quantiles": [{"q": 0.5, "value": 2.5e-308}],
                "histogram": {"edges": [0.0, 1.0], "counts": [rows]}
            }
        }]
    }))
    .expect("the sample profile is valid");
    NewDatasetVersion {
        dataset: dataset.parse().expect("valid name"),
        id,
        created_by: "contract-suite".into(),
        source: "data/raw/x.csv".into(),
        manifest: Manifest {
            files: vec![FileEntry {
                path: "x.csv".into(),
                hash: ContentHash::of(&rows.to_le_bytes()),
                size: rows * 10,
                format: FileFormat::Csv,
                rows,
            }],
            read_options: ReadOptions::default(),
            is_dir: false,
        },
        profile,
    }
}

fn id_with(prefix: u8, n: u8) -> ContentHash {
    let mut b = [prefix; 32];
    b[2] = n;
    ContentHash::from_bytes(b)
}

fn dref(s: &str) -> DatasetRef {
    s.parse().expect("valid reference")
}

/// Runs every contract check against `store`, which must be empty.
pub async fn run_all(store: Arc<dyn MetaStore>) {
    versions_are_numbered_and_deduplicated(store.as_ref()).await;
    references_resolve(store.as_ref()).await;
    listing_reports_latest(store.as_ref()).await;
    records_round_trip_exactly(store.as_ref()).await;
    concurrent_writers_lose_nothing(store.clone()).await;
    run_runs(store.as_ref()).await;
    step_results(store.as_ref()).await;
    registry(store.clone()).await;
    prediction_log(store.as_ref()).await;
    label_join(store.clone()).await;
    server_ids(store.as_ref()).await;
    monitor_records(store.as_ref()).await;
    tokens(store.as_ref()).await;
    experiments(store.as_ref()).await;
    artifacts(store.as_ref()).await;
    run_log_batch(store.as_ref()).await;
    attestations(store.as_ref()).await;
    approvals(store.as_ref()).await;
    leases(store.clone()).await;
}

/// One holder at a time, even when many ask at once; renewal; takeover after the expiry;
/// release; trigger state saved only by the lease's holder.
pub async fn leases(store: Arc<dyn MetaStore>) {
    let mut racers = Vec::new();
    for i in 0..8 {
        let s = store.clone();
        racers.push(tokio::spawn(async move {
            s.acquire_lease("triggers", &format!("host-{i}"), 1_000, 10_000)
                .await
                .unwrap()
        }));
    }
    let mut winners = 0;
    for r in racers {
        winners += r.await.unwrap() as usize;
    }
    assert_eq!(winners, 1, "exactly one of eight racers holds the lease");
    let held = store.leases().await.unwrap();
    assert_eq!(held.len(), 1);
    let holder = held[0].holder.clone();
    let other = if holder == "host-0" {
        "host-1"
    } else {
        "host-0"
    };
    assert_eq!((held[0].expires_ms, held[0].since_ms), (11_000, 1_000));
    // The holder renews; another is refused until the expiry, then takes over.
    assert!(
        store
            .acquire_lease("triggers", &holder, 5_000, 10_000)
            .await
            .unwrap()
    );
    assert!(
        !store
            .acquire_lease("triggers", other, 14_999, 10_000)
            .await
            .unwrap()
    );
    let renewed = &store.leases().await.unwrap()[0];
    assert_eq!((renewed.expires_ms, renewed.since_ms), (15_000, 1_000));
    // Its trigger state is saved; another process's is not.
    assert!(
        store
            .save_trigger_state("nightly", "{\"a\":1}", "triggers", &holder, 6_000)
            .await
            .unwrap()
    );
    assert!(
        !store
            .save_trigger_state("nightly", "{\"a\":2}", "triggers", other, 6_000)
            .await
            .unwrap()
    );
    assert!(
        store
            .acquire_lease("triggers", other, 15_000, 10_000)
            .await
            .unwrap()
    );
    let taken = &store.leases().await.unwrap()[0];
    assert_eq!((taken.holder.as_str(), taken.since_ms), (other, 15_000));
    assert!(
        !store
            .save_trigger_state("nightly", "{\"a\":3}", "triggers", &holder, 16_000)
            .await
            .unwrap()
    );
    assert!(
        store
            .save_trigger_state("nightly", "{\"a\":4}", "triggers", other, 16_000)
            .await
            .unwrap()
    );
    assert_eq!(
        store.trigger_states().await.unwrap(),
        vec![("nightly".to_string(), "{\"a\":4}".to_string())]
    );
    // Only the holder can release it; then anyone may take it at once.
    store.release_lease("triggers", &holder).await.unwrap();
    assert!(
        !store
            .acquire_lease("triggers", &holder, 16_000, 10_000)
            .await
            .unwrap()
    );
    store.release_lease("triggers", other).await.unwrap();
    assert!(
        store
            .acquire_lease("triggers", &holder, 16_001, 10_000)
            .await
            .unwrap()
    );
    // Leases are independent of each other.
    assert!(
        store
            .acquire_lease("monitor", other, 16_001, 10_000)
            .await
            .unwrap()
    );
    assert_eq!(store.leases().await.unwrap().len(), 2);
}

/// Params, tags and metrics of one batch land together, and read back like separate calls.
pub async fn run_log_batch(store: &dyn MetaStore) {
    use gyre_core::run::{MetricPoint, NewRun, RunId};
    let id = RunId::from_random([9; 16]);
    store
        .create_run(
            &NewRun {
                id: id.clone(),
                name: "batch".into(),
                parent: None,
                started_ms: 1,
                user: "ann".into(),
                host: "h".into(),
                pid: 0,
                pid_start: 0,
                git_commit: None,
                git_dirty: false,
            },
            &[("first".into(), "tag".into())],
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .get_run(&id)
            .await
            .unwrap()
            .tags
            .get("first")
            .map(String::as_str),
        Some("tag"),
        "tags given at creation"
    );
    let point = |step, value| MetricPoint {
        step,
        timestamp_ms: 5,
        value,
    };
    store
        .log_batch(
            &id,
            &[("alpha".into(), "0.5".into())],
            &[("team".into(), "risk".into())],
            &[
                ("loss".into(), point(0, 1.0)),
                ("loss".into(), point(1, 0.5)),
            ],
        )
        .await
        .unwrap();
    let r = store.get_run(&id).await.unwrap();
    assert_eq!(r.params.get("alpha").map(String::as_str), Some("0.5"));
    assert_eq!(r.tags.get("team").map(String::as_str), Some("risk"));
    assert_eq!(r.metrics.get("loss"), Some(&0.5));
    assert_eq!(store.metric_history(&id, "loss").await.unwrap().len(), 2);
}

/// Artifact paths point at objects; a prefix lists what is under it, and nothing else.
pub async fn artifacts(store: &dyn MetaStore) {
    use crate::ArtifactEntry;
    let e = |path: &str, hash: &str| ArtifactEntry {
        path: path.into(),
        hash: hash.into(),
        size: 3,
        created_ms: 1,
    };
    for (p, h) in [
        ("1/r/artifacts/a.txt", "h1"),
        ("1/r/artifacts/d/b.txt", "h2"),
        ("1/r2/artifacts/c", "h3"),
        ("1/r/artifacts%", "h4"),
    ] {
        store.put_artifact(&e(p, h)).await.unwrap();
    }
    store
        .put_artifact(&e("1/r/artifacts/a.txt", "h5"))
        .await
        .unwrap();
    assert_eq!(
        store
            .artifact("1/r/artifacts/a.txt")
            .await
            .unwrap()
            .unwrap()
            .hash,
        "h5"
    );
    let under: Vec<String> = store
        .artifacts_under("1/r/artifacts/")
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.path)
        .collect();
    assert_eq!(under, vec!["1/r/artifacts/a.txt", "1/r/artifacts/d/b.txt"]);
    assert!(store.delete_artifact("1/r/artifacts/a.txt").await.unwrap());
    assert!(
        store
            .artifact("1/r/artifacts/a.txt")
            .await
            .unwrap()
            .is_none()
    );
}

/// Experiment 0 is there from the start; names are unique; tags and stages stick.
pub async fn experiments(store: &dyn MetaStore) {
    let default = store.experiment(0).await.unwrap().unwrap();
    assert_eq!(
        (default.name.as_str(), default.lifecycle_stage.as_str()),
        ("Default", "active")
    );
    let id = store.create_experiment("churn", 5).await.unwrap();
    assert!(id > 0);
    let taken = store.create_experiment("churn", 6).await.unwrap_err();
    assert!(matches!(taken, StoreError::Conflict(_)), "{taken}");
    store.set_experiment_tag(id, "team", "risk").await.unwrap();
    store
        .set_experiment_tag(id, "team", "growth")
        .await
        .unwrap();
    let e = store.experiment_by_name("churn").await.unwrap().unwrap();
    assert_eq!(e.id, id);
    assert_eq!(e.artifact_location, format!("mlflow-artifacts:/{id}"));
    assert_eq!(e.tags.get("team").map(String::as_str), Some("growth"));
    assert!(store.set_experiment_stage(id, "deleted", 7).await.unwrap());
    assert!(store.rename_experiment(id, "churn-v2", 8).await.unwrap());
    let e = store.experiment(id).await.unwrap().unwrap();
    assert_eq!(
        (e.name.as_str(), e.lifecycle_stage.as_str()),
        ("churn-v2", "deleted")
    );
    assert!(store.experiment(id + 1000).await.unwrap().is_none());
    assert_eq!(store.experiments().await.unwrap().len(), 2);

    // Metrics linked to a logged model: the latest per key and dataset, NaN kept exactly,
    // an older value never replacing a newer one.
    let m = |key: &str, value: f64, ts: i64, step: i64, dataset: &str| crate::ModelMetric {
        key: key.into(),
        value,
        timestamp_ms: ts,
        step,
        run_id: Some("r1".into()),
        dataset_name: dataset.into(),
        dataset_digest: if dataset.is_empty() { "" } else { "d1" }.into(),
    };
    store
        .log_model_metrics(
            "m-1",
            &[
                m("acc", 0.5, 10, 0, ""),
                m("acc", 0.7, 20, 1, ""),
                m("acc", 0.9, 20, 1, "test"),
                m("loss", f64::NAN, 10, 0, ""),
            ],
        )
        .await
        .unwrap();
    store
        .log_model_metrics("m-1", &[m("acc", 0.1, 15, 0, "")])
        .await
        .unwrap();
    let got = store.model_metrics("m-1").await.unwrap();
    let view: Vec<(String, String, f64)> = got
        .iter()
        .map(|x| (x.key.clone(), x.dataset_name.clone(), x.value))
        .collect();
    assert_eq!(view.len(), 3, "{view:?}");
    assert_eq!((view[0].1.as_str(), view[0].2), ("", 0.7));
    assert_eq!((view[1].1.as_str(), view[1].2), ("test", 0.9));
    assert!(view[2].2.is_nan() && view[2].0 == "loss");
    assert!(store.model_metrics("m-2").await.unwrap().is_empty());
}

/// Tokens are found by hash while live, names stay unique, revoking is once.
pub async fn tokens(store: &dyn MetaStore) {
    use crate::TokenInfo;
    use gyre_core::access::Role;
    let t = |id: &str, name: &str, role| TokenInfo {
        id: id.into(),
        name: name.into(),
        role,
        created_by: "ann".into(),
        created_ms: 7,
        revoked_ms: None,
    };
    store
        .create_token(&t("00000001", "ci", Role::Editor), "h1")
        .await
        .unwrap();
    store
        .create_token(&t("00000002", "app", Role::Predictor), "h2")
        .await
        .unwrap();
    let taken = store
        .create_token(&t("00000003", "ci", Role::Viewer), "h3")
        .await
        .unwrap_err();
    assert!(matches!(taken, StoreError::Conflict(_)), "{taken}");
    assert_eq!(
        store.token_by_hash("h1").await.unwrap(),
        Some(t("00000001", "ci", Role::Editor))
    );
    assert_eq!(store.token_by_hash("nope").await.unwrap(), None);
    assert!(store.revoke_token("ci", 9).await.unwrap());
    assert!(
        !store.revoke_token("ci", 10).await.unwrap(),
        "already revoked"
    );
    assert_eq!(store.token_by_hash("h1").await.unwrap(), None);
    let all = store.tokens().await.unwrap();
    assert_eq!(
        all.iter()
            .map(|t| (t.name.as_str(), t.revoked_ms))
            .collect::<Vec<_>>(),
        vec![("app", None), ("ci", Some(9))]
    );
}

async fn versions_are_numbered_and_deduplicated(store: &dyn MetaStore) {
    let a = sample_version("numbers", id_with(1, 1), 10);
    let b = sample_version("numbers", id_with(1, 2), 20);
    let AddOutcome::Created(v1) = store.add_dataset_version(&a).await.unwrap() else {
        panic!("first add must create");
    };
    assert_eq!(
        (v1.info.seq, v1.info.rows, v1.info.columns, v1.info.bytes),
        (1, 10, 1, 100)
    );
    let AddOutcome::Existing(again) = store.add_dataset_version(&a).await.unwrap() else {
        panic!("adding identical content again must not create a version");
    };
    assert_eq!((again.info.seq, again.info.id), (1, a.id));
    let AddOutcome::Created(v2) = store.add_dataset_version(&b).await.unwrap() else {
        panic!("new content must create");
    };
    assert_eq!(v2.info.seq, 2);
    // The same content in another dataset is that dataset's own version 1.
    let other = sample_version("numbers-copy", a.id, 10);
    let AddOutcome::Created(o) = store.add_dataset_version(&other).await.unwrap() else {
        panic!("same content in another dataset is a new version there");
    };
    assert_eq!(o.info.seq, 1);
}

async fn references_resolve(store: &dyn MetaStore) {
    for n in 1..=3u8 {
        store
            .add_dataset_version(&sample_version("refs", id_with(0xab, n), n as u64))
            .await
            .unwrap();
    }
    assert_eq!(
        store.resolve_version(&dref("refs")).await.unwrap().info.seq,
        3
    );
    assert_eq!(
        store
            .resolve_version(&dref("refs@latest"))
            .await
            .unwrap()
            .info
            .seq,
        3
    );
    assert_eq!(
        store
            .resolve_version(&dref("refs@2"))
            .await
            .unwrap()
            .info
            .rows,
        2
    );
    let full = id_with(0xab, 1).to_hex();
    let v = store
        .resolve_version(&dref(&format!("refs@{full}")))
        .await
        .unwrap();
    assert_eq!(v.info.seq, 1);
    let prefix = &id_with(0xab, 2).to_hex()[..8];
    assert_eq!(
        store
            .resolve_version(&dref(&format!("refs@{prefix}")))
            .await
            .unwrap()
            .info
            .seq,
        2
    );
    match store.resolve_version(&dref("refs@abab")).await {
        Err(StoreError::Ambiguous { candidates, .. }) => assert_eq!(candidates.len(), 3),
        other => panic!("a shared prefix must be ambiguous, got {other:?}"),
    }
    for missing in ["refs@4", "refs@ffff", "nothing", "nothing@1"] {
        match store.resolve_version(&dref(missing)).await {
            Err(StoreError::NotFound { what }) => assert!(what.contains("`"), "{what}"),
            other => panic!("{missing} must be not found, got {other:?}"),
        }
    }
    let name: DatasetName = "nothing".parse().unwrap();
    assert!(store.dataset_versions(&name).await.unwrap().is_empty());
}

async fn listing_reports_latest(store: &dyn MetaStore) {
    let list = store.list_datasets().await.unwrap();
    let names: Vec<_> = list.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, ["numbers", "numbers-copy", "refs"]);
    let refs = &list[2];
    assert_eq!((refs.versions, refs.latest.seq), (3, 3));
    let log = store
        .dataset_versions(&"refs".parse().unwrap())
        .await
        .unwrap();
    assert_eq!(log.iter().map(|v| v.seq).collect::<Vec<_>>(), [1, 2, 3]);
    assert!(log.iter().all(|v| v.created_by == "contract-suite"));
    assert!(log[0].created_at <= log[2].created_at);
}

async fn records_round_trip_exactly(store: &dyn MetaStore) {
    let new = sample_version("roundtrip", id_with(7, 7), 5);
    store.add_dataset_version(&new).await.unwrap();
    let got = store.resolve_version(&dref("roundtrip")).await.unwrap();
    assert_eq!(got.manifest, new.manifest);
    assert_eq!(got.profile, new.profile, "floats must survive bit for bit");
    assert_eq!(got.info.source, new.source);
}

async fn concurrent_writers_lose_nothing(store: Arc<dyn MetaStore>) {
    let mut tasks = Vec::new();
    for n in 0..24u8 {
        let store = store.clone();
        // Every fourth writer re-adds content another writer adds too.
        let id = id_with(9, if n % 4 == 3 { n - 1 } else { n });
        tasks.push(tokio::spawn(async move {
            store
                .add_dataset_version(&sample_version("busy", id, 1))
                .await
                .unwrap()
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let log = store
        .dataset_versions(&"busy".parse().unwrap())
        .await
        .unwrap();
    assert_eq!(log.len(), 18, "24 writers, 6 of them duplicates");
    assert_eq!(
        log.iter().map(|v| v.seq).collect::<Vec<_>>(),
        (1..=18).collect::<Vec<_>>()
    );
}

/// Creates an empty PostgreSQL database for one test and returns its URL, or `None` (with a
/// printed notice) when `GYRE_TEST_POSTGRES_URL` is not set.
pub async fn fresh_postgres_database(tag: &str) -> Option<String> {
    let Ok(admin) = std::env::var("GYRE_TEST_POSTGRES_URL") else {
        eprintln!(
            "notice: GYRE_TEST_POSTGRES_URL is not set; skipping the PostgreSQL test `{tag}`"
        );
        return None;
    };
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let db = format!("gyre_test_{tag}_{}_{nanos}", std::process::id());
    let pool = sqlx::PgPool::connect(&admin)
        .await
        .expect("GYRE_TEST_POSTGRES_URL must reach a PostgreSQL server");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{db}\"")))
        .execute(&pool)
        .await
        .expect("creating a test database");
    pool.close().await;
    let (base, query) = match admin.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (admin.as_str(), String::new()),
    };
    let base = base.rsplit_once('/').map(|(b, _)| b).unwrap_or(base);
    Some(format!("{base}/{db}{query}"))
}

/// A fresh `s3://BUCKET/PREFIX` for one test, or `None` (with a printed notice) when
/// `GYRE_TEST_S3_BUCKET` is not set. The server and its credentials come from the `AWS_*`
/// variables (`AWS_ENDPOINT`, `AWS_ACCESS_KEY_ID`, …) that `.ci/run` sets.
pub fn fresh_s3_prefix(tag: &str) -> Option<String> {
    let Ok(bucket) = std::env::var("GYRE_TEST_S3_BUCKET") else {
        eprintln!("notice: GYRE_TEST_S3_BUCKET is not set; skipping the S3 test `{tag}`");
        return None;
    };
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    Some(format!(
        "s3://{bucket}/test-{tag}-{}-{nanos}",
        std::process::id()
    ))
}

/// The blob-store contract. `corrupt` flips one byte of a stored object behind the store's
/// back (how depends on the implementation).
pub async fn run_blob_contract(
    store: &dyn crate::BlobStore,
    scratch: &std::path::Path,
    corrupt: impl Fn(ContentHash),
) {
    use crate::PutOutcome;
    // Round trip, and identical content stored once.
    let bytes: Vec<u8> = (0..200_000u32).flat_map(|i| i.to_le_bytes()).collect();
    let src = scratch.join("src.bin");
    std::fs::write(&src, &bytes).unwrap();
    let hash = crate::hash_file(&src).unwrap();
    assert_eq!(hash, ContentHash::of(&bytes));
    assert!(!store.contains(hash).await.unwrap());
    assert_eq!(
        store.put_file(&src, hash).await.unwrap(),
        PutOutcome::Stored
    );
    assert_eq!(
        store.put_file(&src, hash).await.unwrap(),
        PutOutcome::AlreadyPresent
    );
    assert!(store.contains(hash).await.unwrap());
    assert_eq!(store.get_bytes(hash).await.unwrap(), bytes);
    let out = scratch.join("nested/out.bin");
    store.get_to_file(hash, &out).await.unwrap();
    assert_eq!(std::fs::read(&out).unwrap(), bytes);
    store.verify(hash).await.unwrap();

    // Small objects from memory, including the empty one.
    for b in [b"".to_vec(), b"gyre".to_vec()] {
        let h = store.put_bytes(b.clone()).await.unwrap();
        assert_eq!(h, ContentHash::of(&b));
        assert_eq!(store.get_bytes(h).await.unwrap(), b);
    }

    // A source that changed after it was hashed is not stored under the old hash.
    let moving = scratch.join("moving.bin");
    std::fs::write(&moving, b"before").unwrap();
    let before = ContentHash::of(b"before");
    std::fs::write(&moving, b"after!").unwrap();
    match store.put_file(&moving, before).await {
        Err(StoreError::SourceChanged { .. }) => {}
        other => panic!("a changed source must be refused, got {other:?}"),
    }
    assert!(!store.contains(before).await.unwrap());

    // A staged copy is invisible until committed, and dropping it leaves nothing.
    let staged_src = scratch.join("staged.bin");
    std::fs::write(&staged_src, b"staged content").unwrap();
    let staged_hash = ContentHash::of(b"staged content");
    let staged = store
        .stage_file(&staged_src, staged_hash)
        .await
        .unwrap()
        .unwrap();
    assert!(!store.contains(staged_hash).await.unwrap());
    drop(staged);
    assert!(!store.contains(staged_hash).await.unwrap());
    let staged = store
        .stage_file(&staged_src, staged_hash)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(store.commit(staged).await.unwrap(), PutOutcome::Stored);
    assert!(
        store
            .stage_file(&staged_src, staged_hash)
            .await
            .unwrap()
            .is_none()
    );

    // Missing objects are reported as missing.
    let absent = ContentHash::of(b"never stored");
    assert!(matches!(
        store.get_bytes(absent).await,
        Err(StoreError::MissingObject { .. })
    ));
    assert!(matches!(
        store.get_to_file(absent, &scratch.join("absent.bin")).await,
        Err(StoreError::MissingObject { .. })
    ));

    // The listing names every object with its size; a removed object is gone, once.
    let listed = store.list().await.unwrap();
    let sizes: std::collections::HashMap<_, _> = listed.iter().map(|o| (o.hash, o.bytes)).collect();
    assert_eq!(sizes.get(&hash), Some(&(bytes.len() as u64)));
    assert_eq!(sizes.get(&staged_hash), Some(&14));
    assert_eq!(sizes.get(&ContentHash::of(b"")), Some(&0));
    assert!(!sizes.contains_key(&before));
    assert_eq!(listed.len(), 4, "{listed:?}");
    let gyre = ContentHash::of(b"gyre");
    assert!(store.remove(gyre).await.unwrap());
    assert!(!store.remove(gyre).await.unwrap());
    assert!(!store.contains(gyre).await.unwrap());
    assert!(matches!(
        store.get_bytes(gyre).await,
        Err(StoreError::MissingObject { .. })
    ));
    assert_eq!(store.list().await.unwrap().len(), 3);

    // A flipped byte is detected by every read, and nothing is handed out.
    corrupt(hash);
    assert!(matches!(
        store.verify(hash).await,
        Err(StoreError::Corrupt { .. })
    ));
    assert!(matches!(
        store.get_bytes(hash).await,
        Err(StoreError::Corrupt { .. })
    ));
    let dest = scratch.join("must-not-exist.bin");
    assert!(matches!(
        store.get_to_file(hash, &dest).await,
        Err(StoreError::Corrupt { .. })
    ));
    assert!(!dest.exists(), "a corrupt object is never written out");
    assert_eq!(
        std::fs::read(&out).unwrap(),
        bytes,
        "an earlier restore is untouched"
    );
}

fn new_run(n: u8, name: &str, started_ms: i64) -> gyre_core::NewRun {
    let mut b = [0xcd; 16];
    b[2] = n;
    gyre_core::NewRun {
        id: gyre_core::RunId::from_random(b),
        name: name.into(),
        parent: None,
        started_ms,
        user: "contract-suite".into(),
        host: "host-a".into(),
        pid: 4242,
        pid_start: 99,
        git_commit: Some("abc123".into()),
        git_dirty: true,
    }
}

fn point(step: i64, value: f64) -> gyre_core::MetricPoint {
    gyre_core::MetricPoint {
        step,
        timestamp_ms: 1_000 + step,
        value,
    }
}

/// The run-store contract: exact values, series, latest values, ends, references, search.
pub async fn run_runs(store: &dyn MetaStore) {
    use crate::Direction;
    use gyre_core::RunStatus;
    use gyre_core::runfilter::{RunFilter, RunOrder};
    let a = new_run(1, "train", 10);
    store.create_run(&a, &[]).await.unwrap();
    store
        .log_params(
            &a.id,
            &[
                ("algorithm".into(), "random_forest".into()),
                ("trees".into(), "100".into()),
            ],
        )
        .await
        .unwrap();
    store
        .log_params(&a.id, &[("trees".into(), "300".into())])
        .await
        .unwrap();
    store
        .set_tags(&a.id, &[("team".into(), "risk".into())])
        .await
        .unwrap();
    let specials = [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -0.0, 0.1 + 0.2];
    let mut points: Vec<(String, gyre_core::MetricPoint)> = specials
        .iter()
        .enumerate()
        .map(|(i, &v)| (format!("special{i}"), point(0, v)))
        .collect();
    // A long series in one batch, and f1 logged out of order.
    points.extend((0..10_000).map(|s| ("loss".to_string(), point(s, 1.0 / (s + 1) as f64))));
    points.push(("f1".into(), point(2, 0.85)));
    points.push(("f1".into(), point(1, 0.80)));
    store.log_metrics(&a.id, &points).await.unwrap();
    store
        .log_metrics(&a.id, &[("f1".into(), point(0, 0.1))])
        .await
        .unwrap();
    store
        .add_io(
            &a.id,
            Direction::Input,
            &["dataset:adult@1".into(), "dataset:adult@1".into()],
        )
        .await
        .unwrap();
    store
        .add_io(&a.id, Direction::Output, &["model:abc".into()])
        .await
        .unwrap();
    assert_eq!(
        store.runs_with_output("model:abc").await.unwrap(),
        vec![a.id.clone()]
    );
    assert!(
        store
            .runs_with_output("dataset:adult@1")
            .await
            .unwrap()
            .is_empty(),
        "an input"
    );

    let got = store.get_run(&a.id).await.unwrap();
    assert_eq!(got.status, RunStatus::Running);
    assert_eq!(
        got.params["trees"], "300",
        "a param logged again takes the new value"
    );
    assert_eq!(got.tags["team"], "risk");
    for (i, v) in specials.iter().enumerate() {
        assert_eq!(
            got.metrics[&format!("special{i}")].to_bits(),
            v.to_bits(),
            "{v} exactly"
        );
    }
    assert_eq!(
        got.metrics["f1"], 0.85,
        "the latest is the highest step, not the last logged"
    );
    assert_eq!(got.metrics["loss"], 1.0 / 10_000.0);
    assert_eq!(
        (got.inputs.clone(), got.outputs.clone()),
        (
            vec!["dataset:adult@1".to_string()],
            vec!["model:abc".to_string()]
        )
    );
    assert!(got.start.git_dirty && got.start.git_commit.as_deref() == Some("abc123"));
    let loss = store.metric_history(&a.id, "loss").await.unwrap();
    assert_eq!(loss.len(), 10_000);
    assert_eq!((loss[0].step, loss[9_999].step), (0, 9_999));
    let f1 = store.metric_history(&a.id, "f1").await.unwrap();
    assert_eq!(f1.iter().map(|p| p.step).collect::<Vec<_>>(), [0, 1, 2]);

    assert!(store.end_run(&a.id, RunStatus::Finished, 50).await.unwrap());
    assert!(
        !store.end_run(&a.id, RunStatus::Killed, 60).await.unwrap(),
        "an ended run stays ended"
    );
    let ended = store.get_run(&a.id).await.unwrap();
    assert_eq!(
        (ended.status, ended.duration_ms()),
        (RunStatus::Finished, Some(40))
    );

    // Prefixes.
    assert_eq!(store.resolve_run(&a.id.as_str()[..6]).await.unwrap(), a.id);
    let b = new_run(2, "train", 20);
    let c = new_run(3, "evaluate", 30);
    for r in [&b, &c] {
        store.create_run(r, &[]).await.unwrap();
    }
    assert!(matches!(
        store.resolve_run("cdcd").await,
        Err(StoreError::Ambiguous { .. })
    ));
    assert!(matches!(
        store.resolve_run("ffff").await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        store.resolve_run("zz").await,
        Err(StoreError::NotFound { .. })
    ));
    store
        .log_params(&b.id, &[("algorithm".into(), "logistic".into())])
        .await
        .unwrap();
    store
        .log_metrics(&b.id, &[("f1".into(), point(0, 0.9))])
        .await
        .unwrap();
    store.end_run(&b.id, RunStatus::Failed, 25).await.unwrap();

    // Search.
    let ids = |runs: Vec<gyre_core::Run>| runs.into_iter().map(|r| r.start.id).collect::<Vec<_>>();
    let all = store
        .search_runs(&RunFilter::default(), &RunOrder::default(), 100)
        .await
        .unwrap();
    assert_eq!(
        ids(all),
        [c.id.clone(), b.id.clone(), a.id.clone()],
        "newest first"
    );
    let f: RunFilter = "metrics.f1 > 0.8 and params.algorithm = 'random_forest'"
        .parse()
        .unwrap();
    assert_eq!(
        ids(store
            .search_runs(&f, &RunOrder::default(), 100)
            .await
            .unwrap()),
        vec![a.id.clone()]
    );
    let f: RunFilter = "status = 'failed'".parse().unwrap();
    assert_eq!(
        ids(store
            .search_runs(&f, &RunOrder::default(), 100)
            .await
            .unwrap()),
        vec![b.id.clone()]
    );
    let f: RunFilter = "name != 'train'".parse().unwrap();
    assert_eq!(
        ids(store
            .search_runs(&f, &RunOrder::default(), 100)
            .await
            .unwrap()),
        vec![c.id.clone()]
    );
    // Patterns and lists, the same on both databases: `like` is case-sensitive, `ilike` is
    // not, and a `*` is a character, not a wildcard.
    for (filter, want) in [
        ("params.algorithm like 'random%'", vec![a.id.clone()]),
        ("params.algorithm like 'Random%'", vec![]),
        ("params.algorithm ilike 'RANDOM%'", vec![a.id.clone()]),
        ("params.algorithm like 'logi_tic'", vec![b.id.clone()]),
        ("name like 'tr*'", vec![]),
        ("name in ('evaluate', 'nothing')", vec![c.id.clone()]),
        ("status not in ('failed', 'finished')", vec![c.id.clone()]),
        (
            &*format!("run_id in ('{}', '{}')", a.id.as_str(), c.id.as_str()),
            vec![c.id.clone(), a.id.clone()],
        ),
        (
            "name ilike '%TRAIN%' and params.algorithm in ('logistic', 'x')",
            vec![b.id.clone()],
        ),
    ] {
        let f: RunFilter = filter.parse().unwrap();
        assert_eq!(
            ids(store
                .search_runs(&f, &RunOrder::default(), 100)
                .await
                .unwrap()),
            want,
            "{filter}"
        );
    }
    let by_f1: RunOrder = "metrics.f1 desc".parse().unwrap();
    assert_eq!(
        ids(store
            .search_runs(&RunFilter::default(), &by_f1, 100)
            .await
            .unwrap()),
        [b.id.clone(), a.id.clone(), c.id.clone()],
        "runs without the metric come last"
    );
    assert_eq!(
        store
            .search_runs(&RunFilter::default(), &by_f1, 1)
            .await
            .unwrap()
            .len(),
        1
    );
    // By a param's text; runs without it last.
    let by_algorithm: RunOrder = "params.algorithm asc".parse().unwrap();
    assert_eq!(
        ids(store
            .search_runs(&RunFilter::default(), &by_algorithm, 100)
            .await
            .unwrap()),
        [b.id.clone(), a.id.clone(), c.id.clone()],
        "logistic, random_forest, then the run without it"
    );
    // Pages: an offset into the same order, and the count of every match.
    let (page, total) = store
        .search_page(&RunFilter::default(), &by_f1, 1, 1)
        .await
        .unwrap();
    assert_eq!((ids(page), total), (vec![a.id.clone()], 3));
    let (page, total) = store
        .search_page(&RunFilter::default(), &RunOrder::default(), 3, 10)
        .await
        .unwrap();
    assert_eq!(
        (page.len(), total),
        (0, 3),
        "past the end: no runs, the count"
    );
    let f: RunFilter = "metrics.f1 > 0.8".parse().unwrap();
    let (page, total) = store.search_page(&f, &by_f1, 0, 1).await.unwrap();
    assert_eq!((ids(page), total), (vec![b.id.clone()], 2));
    // The same filter newest first: the page, then the count on its own.
    let (page, total) = store
        .search_page(&f, &RunOrder::default(), 0, 1)
        .await
        .unwrap();
    assert_eq!((ids(page), total), (vec![b.id.clone()], 2));
    let (page, total) = store.search_page(&f, &by_f1, 5, 1).await.unwrap();
    assert_eq!((page.len(), total), (0, 2), "sorted, past the end");
    let running = store.running_runs("host-a").await.unwrap();
    assert_eq!(ids(running), vec![c.id.clone()]);
    assert!(store.running_runs("host-b").await.unwrap().is_empty());
}

/// Step results: absent until put, then returned as put; a second put of the key keeps the
/// first.
pub async fn step_results(store: &dyn MetaStore) {
    use crate::StepResult;
    let key = "ab".repeat(32);
    assert_eq!(store.step_result(&key).await.unwrap(), None);
    let first = StepResult {
        key: key.clone(),
        step: "prepare".into(),
        outputs: r#"[{"path":"out.csv","hash":"00"}]"#.into(),
        run_id: Some("r1".into()),
        created_ms: 5,
    };
    store.put_step_result(&first).await.unwrap();
    let second = StepResult {
        outputs: "[]".into(),
        run_id: None,
        ..first.clone()
    };
    store.put_step_result(&second).await.unwrap();
    assert_eq!(store.step_result(&key).await.unwrap(), Some(first.clone()));
    let newer = StepResult {
        key: "cd".repeat(32),
        created_ms: 9,
        ..first.clone()
    };
    store.put_step_result(&newer).await.unwrap();
    assert_eq!(
        store.latest_step_result("prepare").await.unwrap(),
        Some(newer.clone())
    );
    assert_eq!(store.latest_step_result("train").await.unwrap(), None);
    // Every result, oldest first (what gc keeps the outputs of); the duplicate key once.
    assert_eq!(store.all_step_results().await.unwrap(), vec![first, newer]);
}

/// The registry: numbering (also under concurrent registration), re-registering, aliases with
/// their audit trail and stale-move conflicts, verdicts.
pub async fn registry(store: Arc<dyn MetaStore>) {
    use crate::{AliasEvent, StoredVerdict};
    let m = |i: u8| format!("{:02x}", i).repeat(32);
    let (v1, created) = store
        .register_version("churn", &m(1), Some("run1"), "ann", 10)
        .await
        .unwrap();
    assert!(created);
    assert_eq!(v1.version, 1);
    let (again, created) = store
        .register_version("churn", &m(1), None, "bob", 11)
        .await
        .unwrap();
    assert!(!created);
    assert_eq!(again, v1, "the same file is the same version");
    let mut tasks = Vec::new();
    for i in 2..8u8 {
        let s = store.clone();
        let model = m(i);
        tasks.push(tokio::spawn(async move {
            s.register_version("churn", &model, None, "ann", 12)
                .await
                .unwrap()
                .0
                .version
        }));
    }
    let mut numbers = Vec::new();
    for t in tasks {
        numbers.push(t.await.unwrap());
    }
    numbers.sort();
    assert_eq!(numbers, (2..8).collect::<Vec<i64>>());
    assert_eq!(store.model_versions(Some("churn")).await.unwrap().len(), 7);
    assert_eq!(store.model_versions(Some("other")).await.unwrap().len(), 0);

    let event = |from, to, forced| AliasEvent {
        name: "churn".into(),
        alias: "champion".into(),
        from,
        to,
        user: "ann".into(),
        reason: "test".into(),
        forced,
        at_ms: 20,
        kind: if forced {
            crate::AliasKind::Rollback
        } else {
            crate::AliasKind::Move
        },
    };
    store
        .move_alias(&event(None, Some(1), false))
        .await
        .unwrap();
    store
        .move_alias(&event(Some(1), Some(3), true))
        .await
        .unwrap();
    let stale = store
        .move_alias(&event(Some(1), Some(4), false))
        .await
        .unwrap_err();
    assert!(matches!(stale, StoreError::Conflict(_)), "{stale}");
    assert_eq!(
        store.aliases("churn").await.unwrap(),
        vec![("champion".to_string(), 3)]
    );
    let events = store.alias_events("churn").await.unwrap();
    assert_eq!(events.len(), 2, "a refused move leaves no audit row");
    assert_eq!(
        (
            events[1].from,
            events[1].to,
            events[1].forced,
            events[1].kind
        ),
        (Some(1), Some(3), true, crate::AliasKind::Rollback)
    );
    assert_eq!(events[0].kind, crate::AliasKind::Move);
    store
        .move_alias(&event(Some(3), None, false))
        .await
        .unwrap();
    assert!(store.aliases("churn").await.unwrap().is_empty());

    assert_eq!(store.latest_verdict("churn", 2).await.unwrap(), None);
    for (passed, at) in [(false, 1), (true, 2)] {
        store
            .put_verdict(&StoredVerdict {
                name: "churn".into(),
                version: 2,
                passed,
                checks: "[]".into(),
                user: "ann".into(),
                created_ms: at,
            })
            .await
            .unwrap();
    }
    assert!(
        store
            .latest_verdict("churn", 2)
            .await
            .unwrap()
            .unwrap()
            .passed
    );
}

/// The prediction log keeps every record once; feedback is idempotent and may come late.
pub async fn prediction_log(store: &dyn MetaStore) {
    use crate::{FeedbackRecord, PredictionRecord};
    let rec = |row: i64, role: &str| PredictionRecord {
        request_id: "req-1".into(),
        row_index: row,
        role: role.into(),
        ts_ms: 100 + row,
        model: "churn".into(),
        version: 3,
        inputs: r#"{"age":41}"#.into(),
        output: r#"{"label":"yes"}"#.into(),
    };
    let batch: Vec<PredictionRecord> = (0..1200).map(|i| rec(i, "champion")).collect();
    store.log_predictions(&batch).await.unwrap();
    store
        .log_predictions(&[rec(0, "champion"), rec(0, "shadow")])
        .await
        .unwrap();
    assert_eq!(store.prediction_count("churn").await.unwrap(), 1201);
    let got = store.predictions_of("req-1").await.unwrap();
    assert_eq!(got[0], rec(0, "champion"));
    let label = |row: i64, label: &str| FeedbackRecord {
        request_id: "req-1".into(),
        row_index: row,
        label: label.into(),
        ts_ms: 5,
    };
    assert_eq!(
        store
            .add_feedback(
                &[label(1, "no"), label(0, "yes")],
                crate::UnknownLabels::UNBOUNDED
            )
            .await
            .unwrap()
            .stored,
        2
    );
    assert_eq!(
        store
            .add_feedback(&[label(0, "changed")], crate::UnknownLabels::UNBOUNDED)
            .await
            .unwrap()
            .stored,
        0,
        "a duplicate is ignored"
    );
    let f = store.feedback_of("req-1").await.unwrap();
    assert_eq!((f[0].label.as_str(), f[1].label.as_str()), ("yes", "no"));

    // A correction replaces the label, joined row included, and keeps both in the audit.
    assert_eq!(joined_labels(store).await, vec!["yes".to_string()]);
    let mut fix = label(0, "no");
    fix.ts_ms = 9;
    assert_eq!(
        store
            .correct_labels(&[fix.clone()], "token:ops")
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store.correct_labels(&[fix], "token:ops").await.unwrap(),
        0,
        "same value"
    );
    assert_eq!(store.feedback_of("req-1").await.unwrap()[0].label, "no");
    assert_eq!(joined_labels(store).await, vec!["no".to_string()]);
    let audit = store.label_corrections("req-1").await.unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(
        (
            audit[0].old_label.as_str(),
            audit[0].new_label.as_str(),
            audit[0].user.as_str()
        ),
        ("yes", "no", "token:ops")
    );

    // Labels for requests nobody answered are kept within bounds, and said to be unknown.
    let stray = |n: usize, ts: i64| FeedbackRecord {
        request_id: format!("never-{n}"),
        row_index: 0,
        label: "x".into(),
        ts_ms: ts,
    };
    let before = store.pending_labels().await.unwrap();
    let bound = crate::UnknownLabels {
        drop_before_ms: 0,
        max: before + 3,
    };
    let got = store
        .add_feedback(&(0..5).map(|n| stray(n, 50)).collect::<Vec<_>>(), bound)
        .await
        .unwrap();
    assert_eq!(
        (got.stored, got.unknown.len(), got.refused.len()),
        (3, 3, 2)
    );
    assert_eq!(store.pending_labels().await.unwrap(), before + 3);
    // A known request's label is not unknown, and old strays are dropped.
    let got = store
        .add_feedback(
            &[label(5, "yes")],
            crate::UnknownLabels {
                drop_before_ms: 51,
                max: before + 3,
            },
        )
        .await
        .unwrap();
    assert_eq!((got.stored, got.unknown.len()), (1, 0));
    assert!(store.feedback_of("never-0").await.unwrap().is_empty());
}

/// The labels joined to `req-1`'s first row.
async fn joined_labels(store: &dyn MetaStore) -> Vec<String> {
    store
        .labelled_after("churn", "champion", 0, 10_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.request_id == "req-1" && r.row_index == 0)
        .map(|r| r.label)
        .collect()
}

/// Labels meet their predictions whichever arrives first, once each, under concurrency, and
/// the joined rows come back in sequence order after a cursor.
pub async fn label_join(store: Arc<dyn MetaStore>) {
    use crate::{FeedbackRecord, PredictionRecord};
    let pred = |id: usize, role: &str| PredictionRecord {
        request_id: format!("j-{id}"),
        row_index: 0,
        role: role.into(),
        ts_ms: 1_000 + id as i64,
        model: "joiner".into(),
        version: 1,
        inputs: "[1]".into(),
        output: format!("{{\"label\":\"{}\"}}", id % 2),
    };
    let label = |id: usize, ts: i64| FeedbackRecord {
        request_id: format!("j-{id}"),
        row_index: 0,
        label: (id % 3 % 2).to_string(),
        ts_ms: ts,
    };
    // Predictions 0..50 are logged; labels come for 0..60 (50..60 before their predictions).
    let logged: Vec<_> = (0..50).map(|i| pred(i, "champion")).collect();
    store.log_predictions(&logged).await.unwrap();
    let labels: Vec<_> = (0..60).rev().map(|i| label(i, 2_000)).collect();
    assert_eq!(
        store
            .add_feedback(&labels, crate::UnknownLabels::UNBOUNDED)
            .await
            .unwrap()
            .stored,
        60
    );
    let rows = store
        .labelled_after("joiner", "champion", 0, 1000)
        .await
        .unwrap();
    assert_eq!(rows.len(), 50, "labels meet the predictions already logged");
    assert_eq!(store.pending_labels().await.unwrap(), 10);
    let cursor = rows.last().unwrap().seq;
    assert!(rows.windows(2).all(|w| w[0].seq < w[1].seq));
    // The rest arrive, with a shadow scoring too; a pass joins them once, however often it runs.
    let late: Vec<_> = (50..60)
        .flat_map(|i| [pred(i, "champion"), pred(i, "shadow")])
        .collect();
    store.log_predictions(&late).await.unwrap();
    let mut passes = Vec::new();
    for _ in 0..4 {
        let s = store.clone();
        passes.push(tokio::spawn(
            async move { s.join_pending(0).await.unwrap() },
        ));
    }
    let mut joined = 0;
    for p in passes {
        joined += p.await.unwrap();
    }
    assert_eq!(joined, 20, "each late label joined once per role");
    assert_eq!(store.pending_labels().await.unwrap(), 0);
    let after = store
        .labelled_after("joiner", "champion", cursor, 1000)
        .await
        .unwrap();
    assert_eq!(after.len(), 10);
    assert!(after.iter().all(|r| r.seq > cursor));
    let r = &after[0];
    assert_eq!(
        (r.predicted_ms, r.labelled_ms, r.label.as_str()),
        (
            1_000 + r.request_id[2..].parse::<i64>().unwrap(),
            2_000,
            label(r.request_id[2..].parse().unwrap(), 0).label.as_str()
        )
    );
    assert_eq!(
        store
            .labelled_after("joiner", "shadow", 0, 1000)
            .await
            .unwrap()
            .len(),
        10
    );
    // A duplicate label changes nothing.
    assert_eq!(
        store
            .add_feedback(&[label(3, 9_000)], crate::UnknownLabels::UNBOUNDED)
            .await
            .unwrap()
            .stored,
        0
    );
    assert_eq!(
        store
            .labelled_after("joiner", "champion", 0, 1000)
            .await
            .unwrap()
            .len(),
        60
    );
    // Concurrent labellers and a concurrent log writer lose no join.
    let mut tasks = Vec::new();
    for t in 0..4usize {
        let s = store.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..10 {
                let id = 100 + t * 10 + i;
                s.add_feedback(&[label(id, 3_000)], crate::UnknownLabels::UNBOUNDED)
                    .await
                    .unwrap();
            }
        }));
    }
    let s = store.clone();
    tasks.push(tokio::spawn(async move {
        for chunk in (100..140).collect::<Vec<_>>().chunks(5) {
            let batch: Vec<_> = chunk.iter().map(|i| pred(*i, "champion")).collect();
            s.log_predictions(&batch).await.unwrap();
        }
    }));
    for t in tasks {
        t.await.unwrap();
    }
    store.join_pending(0).await.unwrap();
    let all = store
        .labelled_after("joiner", "champion", 0, 1000)
        .await
        .unwrap();
    assert_eq!(all.len(), 100);
    assert_eq!(store.pending_labels().await.unwrap(), 0);
}

/// Records of server-made request ids (`{prefix}-{counter:010x}`) are found by their
/// segments' counter ranges: across segments, with a shadow logged later, beside another
/// prefix, and for labels whose predictions span segments.
pub async fn server_ids(store: &dyn MetaStore) {
    use crate::{FeedbackRecord, PredictionRecord};
    let id = |prefix: &str, n: u64| format!("{prefix}-{n:010x}");
    let pred = |prefix: &str, n: u64, row: i64, role: &str, model: &str| PredictionRecord {
        request_id: id(prefix, n),
        row_index: row,
        role: role.into(),
        ts_ms: 10_000 + n as i64,
        model: model.into(),
        version: 2,
        inputs: format!("[{n},{row},\"{prefix}\"]"),
        output: format!("{{\"label\":\"{role}\"}}"),
    };
    let a = "00aa11bb22cc";
    let b = "ff00ff00ff00";
    // 1,300 champions in one batch (segments of 512, 512, 276), interleaved with the same
    // counters of another prefix and model; then 200 more, with request 1,400 of 3 rows.
    let first: Vec<_> = (0..1300u64)
        .flat_map(|n| {
            [
                pred(a, n, 0, "champion", "seg"),
                pred(b, n, 0, "champion", "other"),
            ]
        })
        .collect();
    store.log_predictions(&first).await.unwrap();
    let second: Vec<_> = (1300..1500u64)
        .flat_map(|n| {
            let rows = if n == 1400 { 3 } else { 1 };
            (0..rows).map(move |r| (n, r))
        })
        .map(|(n, r)| pred(a, n, r, "champion", "seg"))
        .collect();
    store.log_predictions(&second).await.unwrap();
    // Shadows of requests 5 and 1,290 come late, together.
    store
        .log_predictions(&[
            pred(a, 5, 0, "shadow", "seg"),
            pred(a, 1290, 0, "shadow", "seg"),
        ])
        .await
        .unwrap();
    assert_eq!(store.prediction_count("seg").await.unwrap(), 1504);
    assert_eq!(store.prediction_count("other").await.unwrap(), 1300);
    // The whole log of a model, in the order logged.
    let (all, next) = store.prediction_page("seg", 0, 10_000).await.unwrap();
    assert_eq!(next, None);
    let got: Vec<_> = all
        .iter()
        .map(|r| (r.request_id.clone(), r.row_index, r.role.clone()))
        .collect();
    let want: Vec<_> = first
        .iter()
        .chain(&second)
        .filter(|r| r.model == "seg")
        .chain([
            &pred(a, 5, 0, "shadow", "seg"),
            &pred(a, 1290, 0, "shadow", "seg"),
        ])
        .map(|r| (r.request_id.clone(), r.row_index, r.role.clone()))
        .collect();
    assert_eq!(got, want);
    assert_eq!(all[0], pred(a, 0, 0, "champion", "seg"));
    // Page by page: 20 small batches, read back in pages of at least 1 record.
    for n in 0..20u64 {
        store
            .log_predictions(&[pred(a, 5_000 + n, 0, "champion", "paged")])
            .await
            .unwrap();
    }
    let (mut paged, mut after, mut pages) = (Vec::new(), 0, 0);
    loop {
        let (page, next) = store.prediction_page("paged", after, 1).await.unwrap();
        assert!(!page.is_empty());
        paged.extend(page);
        pages += 1;
        match next {
            Some(n) => after = n,
            None => break,
        }
    }
    assert!(pages > 1, "{pages} pages");
    let counters: Vec<_> = paged.iter().map(|r| r.ts_ms - 10_000).collect();
    assert_eq!(counters, (5_000..5_020).collect::<Vec<i64>>());
    assert!(
        store
            .prediction_page("nobody", 0, 10)
            .await
            .unwrap()
            .0
            .is_empty()
    );
    for n in [0, 5, 511, 512, 1023, 1024, 1290, 1299, 1300, 1400, 1499] {
        let got = store.predictions_of(&id(a, n)).await.unwrap();
        let mut want: Vec<_> = (0..if n == 1400 { 3 } else { 1 })
            .map(|r| pred(a, n, r, "champion", "seg"))
            .collect();
        if n == 5 || n == 1290 {
            want.push(pred(a, n, 0, "shadow", "seg"));
        }
        assert_eq!(got, want, "request {n}");
    }
    assert_eq!(
        store.predictions_of(&id(b, 700)).await.unwrap(),
        [pred(b, 700, 0, "champion", "other")]
    );
    assert!(store.predictions_of(&id(a, 1500)).await.unwrap().is_empty());
    // A server-shaped id logged again: the first record is the one read back.
    let mut again = pred(a, 3, 0, "champion", "dup");
    again.output = "{\"label\":\"again\"}".into();
    store.log_predictions(&[again]).await.unwrap();
    assert_eq!(
        store.predictions_of(&id(a, 3)).await.unwrap(),
        [pred(a, 3, 0, "champion", "seg")]
    );
    // Labels: both roles of request 5, three rows of 1,400, one of 1,290, and one never logged.
    let label = |n: u64, row: i64| FeedbackRecord {
        request_id: id(a, n),
        row_index: row,
        label: format!("y{n}.{row}"),
        ts_ms: 50_000 + n as i64,
    };
    let labels = [
        label(5, 0),
        label(1400, 2),
        label(1400, 0),
        label(1290, 0),
        label(99_999, 0),
    ];
    assert_eq!(
        store
            .add_feedback(&labels, crate::UnknownLabels::UNBOUNDED)
            .await
            .unwrap()
            .stored,
        5
    );
    assert_eq!(store.pending_labels().await.unwrap(), 1);
    let champion = store
        .labelled_after("seg", "champion", 0, 100)
        .await
        .unwrap();
    let got: Vec<_> = champion
        .iter()
        .map(|r| (r.request_id.clone(), r.row_index, r.label.clone()))
        .collect();
    assert_eq!(
        got,
        [
            (id(a, 5), 0, "y5.0".to_string()),
            (id(a, 1290), 0, "y1290.0".to_string()),
            (id(a, 1400), 0, "y1400.0".to_string()),
            (id(a, 1400), 2, "y1400.2".to_string()),
        ],
        "joined in label order"
    );
    assert_eq!(
        (
            champion[0].predicted_ms,
            champion[0].labelled_ms,
            champion[0].version
        ),
        (10_005, 50_005, 2)
    );
    assert_eq!(champion[0].output, "{\"label\":\"champion\"}");
    let shadow = store.labelled_after("seg", "shadow", 0, 100).await.unwrap();
    assert_eq!(shadow.len(), 2);
    // Inputs of labelled rows (not shadows), newest first.
    let inputs = store.labelled_inputs("seg", 0, 10).await.unwrap();
    let got: Vec<_> = inputs
        .iter()
        .map(|(_, ms, i, l)| (*ms, i.clone(), l.clone()))
        .collect();
    assert_eq!(
        got,
        [
            (11_400, format!("[1400,2,\"{a}\"]"), "y1400.2".to_string()),
            (11_400, format!("[1400,0,\"{a}\"]"), "y1400.0".to_string()),
            (11_290, format!("[1290,0,\"{a}\"]"), "y1290.0".to_string()),
            (10_005, format!("[5,0,\"{a}\"]"), "y5.0".to_string()),
        ]
    );
    assert_eq!(
        store
            .labelled_inputs("seg", 11_000, 10)
            .await
            .unwrap()
            .len(),
        3
    );
    // The missing prediction arrives; a later pass joins it.
    store
        .log_predictions(&[pred(a, 99_999, 0, "champion", "seg")])
        .await
        .unwrap();
    assert_eq!(store.join_pending(0).await.unwrap(), 1);
    assert_eq!(store.pending_labels().await.unwrap(), 0);
}

/// Points, events and firings round-trip.
pub async fn monitor_records(store: &dyn MetaStore) {
    use crate::{Firing, MonitorEvent, MonitorPoint};
    let point = |n: i64, role: &str| MonitorPoint {
        id: 0,
        model: "watched".into(),
        role: role.into(),
        version: 2,
        kind: "labels".into(),
        first_seq: n * 10 + 1,
        last_seq: n * 10 + 10,
        start_ms: n,
        end_ms: n + 1,
        n: 10,
        metrics: r#"{"f1":0.5}"#.into(),
    };
    let a = store.add_point(&point(0, "champion")).await.unwrap();
    let b = store.add_point(&point(1, "champion")).await.unwrap();
    store.add_point(&point(1, "challenger")).await.unwrap();
    assert!(b > a);
    let last = store
        .last_point("watched", "labels", "champion")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((last.id, last.last_seq), (b, 20));
    assert_eq!(store.points("watched", None, None).await.unwrap().len(), 3);
    assert_eq!(
        store
            .points("watched", Some("labels"), Some("challenger"))
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        store
            .last_point("watched", "traffic", "champion")
            .await
            .unwrap()
            .is_none()
    );
    let event = MonitorEvent {
        id: 0,
        ts_ms: 5,
        model: "watched".into(),
        version: 2,
        rule: "f1 >= 0.7".into(),
        kind: "breach".into(),
        point: Some(b),
        value: Some(0.5),
        threshold: Some(0.7),
        detail: String::new(),
    };
    let e = store.add_event(&event).await.unwrap();
    let got = store.events(Some("watched"), 0).await.unwrap();
    assert_eq!(got, vec![MonitorEvent { id: e, ..event }]);
    assert!(store.events(None, e).await.unwrap().is_empty());
    let f = store
        .add_firing(&Firing {
            id: 0,
            ts_ms: 7,
            trigger: "nightly".into(),
            kind: "schedule".into(),
            cause: "cron 0 3 * * *".into(),
            pipeline: "retrain".into(),
            status: "running".into(),
            finished_ms: None,
            detail: String::new(),
        })
        .await
        .unwrap();
    store
        .finish_firing(f, "succeeded", "run r1", 9)
        .await
        .unwrap();
    let got = store.firings(Some("nightly"), 10).await.unwrap();
    assert_eq!(
        (
            got[0].status.as_str(),
            got[0].finished_ms,
            got[0].detail.as_str()
        ),
        ("succeeded", Some(9), "run r1")
    );
}

/// Attestations are kept in order, each with its note, user and time.
pub async fn attestations(store: &dyn MetaStore) {
    use crate::Attestation;
    let a = |test: &str, note: &str, at_ms: i64| Attestation {
        test: test.into(),
        note: note.into(),
        user: "ann".into(),
        at_ms,
    };
    store
        .attest(&a("data.2", "ablation in notebooks/ablate.ipynb", 20))
        .await
        .unwrap();
    store
        .attest(&a("model.7", "slices by sex and race reviewed", 10))
        .await
        .unwrap();
    store
        .attest(&a("data.2", "again, after adding two columns", 30))
        .await
        .unwrap();
    assert_eq!(
        store.attestations().await.unwrap(),
        vec![
            a("model.7", "slices by sex and race reviewed", 10),
            a("data.2", "ablation in notebooks/ablate.ipynb", 20),
            a("data.2", "again, after adding two columns", 30),
        ]
    );
}

/// Approvals are found by version and environment, in order, with the approver's role.
pub async fn approvals(store: &dyn MetaStore) {
    use crate::Approval;
    use gyre_core::access::Role;
    let a = |version: i64, env: &str, who: &str, role: Role, at_ms: i64| Approval {
        name: "churn".into(),
        version,
        environment: env.into(),
        approver: who.into(),
        role,
        note: format!("{who} looked"),
        at_ms,
    };
    store
        .approve(&a(3, "production", "ann", Role::Editor, 20))
        .await
        .unwrap();
    store
        .approve(&a(3, "staging", "bob", Role::Viewer, 10))
        .await
        .unwrap();
    store
        .approve(&a(3, "production", "cy", Role::Admin, 30))
        .await
        .unwrap();
    store
        .approve(&a(4, "production", "ann", Role::Editor, 40))
        .await
        .unwrap();
    assert_eq!(
        store.approvals("churn", 3, "production").await.unwrap(),
        vec![
            a(3, "production", "ann", Role::Editor, 20),
            a(3, "production", "cy", Role::Admin, 30)
        ]
    );
    assert!(
        store
            .approvals("churn", 5, "production")
            .await
            .unwrap()
            .is_empty()
    );
}
