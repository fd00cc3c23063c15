//! Runs the metadata-store contract suite on SQLite and, when `GYRE_TEST_POSTGRES_URL` is set,
//! on PostgreSQL.

use gyre_store::contract::{fresh_postgres_database, run_all};
use gyre_store::open_meta_store;
use std::sync::Arc;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn contract_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("gyre.db").display());
    let store = open_meta_store(&url).await.unwrap();
    assert_eq!(store.backend(), "sqlite");
    run_all(Arc::from(store)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn contract_postgres() {
    let Some(url) = fresh_postgres_database("contract").await else {
        return;
    };
    let store = open_meta_store(&url).await.unwrap();
    assert_eq!(store.backend(), "postgres");
    run_all(Arc::from(store)).await;
}

#[tokio::test]
async fn reopening_keeps_everything_and_rejects_unknown_schemes() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("gyre.db").display());
    {
        let store = open_meta_store(&url).await.unwrap();
        let v = gyre_store::contract::sample_version("kept", gyre_core::ContentHash::of(b"k"), 3);
        store.add_dataset_version(&v).await.unwrap();
    }
    let store = open_meta_store(&url).await.unwrap();
    assert_eq!(store.list_datasets().await.unwrap().len(), 1);
    let err = open_meta_store("mysql://user:secret@host/db")
        .await
        .err()
        .unwrap();
    let msg = err.to_string();
    assert!(msg.contains("mysql") && !msg.contains("secret"), "{msg}");
}
