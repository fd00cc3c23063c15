//! The blob-store contract on the local file-system store.

use gyre_store::contract::run_blob_contract;
use gyre_store::{BlobStore, LocalBlobStore, S3BlobStore, S3Url};

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

/// The same contract on an S3-compatible server (`s3s-fs`, which `.ci/run` starts), through
/// the local read cache.
#[tokio::test(flavor = "multi_thread")]
async fn contract_s3() {
    use object_store::ObjectStoreExt;
    let Some(url) = gyre_store::contract::fresh_s3_prefix("contract") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let store = S3BlobStore::open(&url, &dir.path().join("cache")).unwrap();
    let scratch = dir.path().join("scratch");
    std::fs::create_dir_all(&scratch).unwrap();
    let (raw, key) = behind_the_store(&url);
    let cache = store.cache().clone();
    run_blob_contract(&store, &scratch, |hash| {
        // Another machine's view: the bucket's copy is flipped and this cache never saw it.
        let (raw, key, cache) = (&raw, key(hash), cache.clone());
        tokio::task::block_in_place(|| {
            tokio::runtime::Handle::current().block_on(async move {
                let mut bytes = raw.get(&key).await.unwrap().bytes().await.unwrap().to_vec();
                bytes[12_345] ^= 0x40;
                raw.put(&key, bytes.into()).await.unwrap();
                remove_cached(&cache, hash);
            })
        })
    })
    .await;
}

/// A client of the bucket that bypasses the store, and where the store keeps an object: what
/// a tamperer, or a collector on another machine, would use.
fn behind_the_store(
    url: &str,
) -> (
    object_store::aws::AmazonS3,
    impl Fn(gyre_core::ContentHash) -> object_store::path::Path,
) {
    let parsed: S3Url = url.parse().unwrap();
    let raw = object_store::aws::AmazonS3Builder::from_env()
        .with_bucket_name(&parsed.bucket)
        .build()
        .unwrap();
    let key = move |hash: gyre_core::ContentHash| {
        let hex = hash.to_hex();
        object_store::path::Path::from(format!(
            "{}/objects/{}/{}",
            parsed.prefix,
            &hex[..2],
            &hex[2..]
        ))
    };
    (raw, key)
}

fn remove_cached(cache: &LocalBlobStore, hash: gyre_core::ContentHash) {
    let path = cache.object_path(hash);
    let mut perms = std::fs::metadata(&path).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    std::fs::set_permissions(&path, perms).unwrap();
    std::fs::remove_file(&path).unwrap();
}

/// A file larger than a part goes up in parts and comes back whole; a second read is served
/// by the cache (it survives the bucket losing the object), and a cached copy that rots is
/// caught.
#[tokio::test(flavor = "multi_thread")]
async fn s3_multipart_and_cache() {
    use object_store::ObjectStoreExt;
    let Some(url) = gyre_store::contract::fresh_s3_prefix("multipart") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let store = S3BlobStore::open(&url, &dir.path().join("cache")).unwrap();
    let big: Vec<u8> = (0..(gyre_store::s3::PART_BYTES as u64 * 5 / 2 + 123))
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let src = dir.path().join("big.bin");
    std::fs::write(&src, &big).unwrap();
    let hash = gyre_store::hash_file(&src).unwrap();
    assert_eq!(
        store.put_file(&src, hash).await.unwrap(),
        gyre_store::PutOutcome::Stored
    );

    // A second machine, with an empty cache, reads it from the bucket.
    let other = S3BlobStore::open(&url, &dir.path().join("cache2")).unwrap();
    assert!(other.local_path(hash).is_none());
    let out = dir.path().join("out.bin");
    other.get_to_file(hash, &out).await.unwrap();
    assert_eq!(std::fs::read(&out).unwrap(), big);
    assert!(other.local_path(hash).is_some());
    let listed = other.list().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].bytes, big.len() as u64);

    // The cache serves it even after the bucket lost it.
    let (raw, key) = behind_the_store(&url);
    raw.delete(&key(hash)).await.unwrap();
    assert_eq!(other.get_bytes(hash).await.unwrap(), big);
    assert!(
        !other.contains(hash).await.unwrap(),
        "contains asks the bucket"
    );

    // A cached copy that rots is caught on the next read.
    let path = other.cache().object_path(hash);
    let mut rotten = std::fs::read(&path).unwrap();
    rotten[7] ^= 1;
    remove_cached(other.cache(), hash);
    std::fs::write(&path, rotten).unwrap();
    assert!(matches!(
        other.verify(hash).await,
        Err(gyre_store::StoreError::Corrupt { .. })
    ));
}
