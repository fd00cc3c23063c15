//! The blob-store contract on the local file-system store.

use gyre_store::LocalBlobStore;
use gyre_store::contract::run_blob_contract;

#[tokio::test]
async fn contract_local() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalBlobStore::open(dir.path().join("store")).unwrap();
    let scratch = dir.path().join("scratch");
    std::fs::create_dir_all(&scratch).unwrap();
    let s = store.clone();
    run_blob_contract(&store, &scratch, move |hash| {
        let path = s.object_path(hash);
        let mut perms = std::fs::metadata(&path).unwrap().permissions();
        assert!(perms.readonly(), "stored objects are read-only");
        #[allow(clippy::permissions_set_readonly_false)]
        perms.set_readonly(false);
        std::fs::set_permissions(&path, perms).unwrap();
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[12_345] ^= 0x40;
        std::fs::write(&path, bytes).unwrap();
    })
    .await;
    // Nothing is left behind in the temporary folder.
    assert_eq!(
        std::fs::read_dir(dir.path().join("store/tmp"))
            .unwrap()
            .count(),
        0
    );
}
