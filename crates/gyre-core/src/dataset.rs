//! Datasets and their immutable, content-addressed versions.

use crate::{ContentHash, CoreError, DatasetProfile};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A dataset's name: 1 to 64 of `[A-Za-z0-9_.-]`, starting with a letter or digit.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DatasetName(String);

impl DatasetName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for DatasetName {
    type Error = CoreError;
    fn try_from(s: String) -> Result<Self, CoreError> {
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.as_bytes()[0].is_ascii_alphanumeric()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
        if ok {
            Ok(DatasetName(s))
        } else {
            Err(CoreError::InvalidName(s))
        }
    }
}

impl FromStr for DatasetName {
    type Err = CoreError;
    fn from_str(s: &str) -> Result<Self, CoreError> {
        DatasetName::try_from(s.to_string())
    }
}

impl From<DatasetName> for String {
    fn from(n: DatasetName) -> String {
        n.0
    }
}

impl fmt::Display for DatasetName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Which version of a dataset a user means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionRef {
    /// `@latest`, or no `@` at all.
    Latest,
    /// `@N`: the N-th version added (1-based).
    Seq(u64),
    /// A full content hash or a unique prefix of at least 4 hex digits.
    HashPrefix(String),
}

impl FromStr for VersionRef {
    type Err = CoreError;
    fn from_str(s: &str) -> Result<Self, CoreError> {
        if s == "latest" {
            return Ok(VersionRef::Latest);
        }
        // Sequence numbers are short; a hash prefix has at least 4 digits and may contain
        // letters. An all-digit string of 4 or more is ambiguous between the two, and is read
        // as a sequence number only when it is small enough to be one.
        if !s.is_empty() && s.len() <= 6 && s.bytes().all(|b| b.is_ascii_digit()) {
            let n: u64 = s
                .parse()
                .map_err(|_| CoreError::InvalidVersionRef(s.into()))?;
            if n == 0 {
                return Err(CoreError::InvalidVersionRef(s.into()));
            }
            return Ok(VersionRef::Seq(n));
        }
        if s.len() >= 4 && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(VersionRef::HashPrefix(s.to_ascii_lowercase()));
        }
        Err(CoreError::InvalidVersionRef(s.into()))
    }
}

impl fmt::Display for VersionRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VersionRef::Latest => f.write_str("latest"),
            VersionRef::Seq(n) => write!(f, "{n}"),
            VersionRef::HashPrefix(p) => f.write_str(p),
        }
    }
}

/// `NAME`, `NAME@latest`, `NAME@3` or `NAME@1a2b3c`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatasetRef {
    pub name: DatasetName,
    pub version: VersionRef,
}

impl FromStr for DatasetRef {
    type Err = CoreError;
    fn from_str(s: &str) -> Result<Self, CoreError> {
        let (name, version) = match s.split_once('@') {
            Some((n, v)) => (n, v.parse()?),
            None => (s, VersionRef::Latest),
        };
        Ok(DatasetRef {
            name: name.parse()?,
            version,
        })
    }
}

impl fmt::Display for DatasetRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.name, self.version)
    }
}

/// The file formats a dataset can hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileFormat {
    Csv,
    Parquet,
}

/// How CSV files are read. Part of a version's identity: the same bytes read with other
/// options are a different dataset (other columns, other nulls).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadOptions {
    /// The first line holds the column names.
    pub header: bool,
    /// Column names for files without a header (or to rename the header's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub columns: Option<Vec<String>>,
    pub delimiter: char,
    pub quote: char,
    /// Field values that mean "missing". The empty field is one by default.
    pub null_values: Vec<String>,
    /// Skip spaces that follow a delimiter (pandas' `skipinitialspace`).
    pub skip_initial_space: bool,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            header: true,
            columns: None,
            delimiter: ',',
            quote: '"',
            null_values: ["", "NA", "N/A", "NaN", "nan", "null", "NULL", "None"]
                .map(String::from)
                .to_vec(),
            skip_initial_space: false,
        }
    }
}

/// One file of a dataset version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Path relative to the dataset's root, `/`-separated. For a single-file dataset, the
    /// file's name.
    pub path: String,
    pub hash: ContentHash,
    pub size: u64,
    pub format: FileFormat,
    pub rows: u64,
}

/// What a version is made of. Its hash is the version's id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Sorted by path.
    pub files: Vec<FileEntry>,
    pub read_options: ReadOptions,
    /// True when the source was a folder (checkout recreates a folder).
    pub is_dir: bool,
}

impl Manifest {
    /// The version id: BLAKE3 of the canonical JSON of what identifies the content: each
    /// file's path, hash, size and format (sorted by path), the read options, and whether the
    /// source was a folder. Row counts are left out, so the id is known before profiling.
    pub fn id(&self) -> ContentHash {
        #[derive(Serialize)]
        struct Identity<'a> {
            files: Vec<(&'a str, &'a ContentHash, u64, FileFormat)>,
            read_options: &'a ReadOptions,
            is_dir: bool,
        }
        let identity = Identity {
            files: self
                .files
                .iter()
                .map(|f| (f.path.as_str(), &f.hash, f.size, f.format))
                .collect(),
            read_options: &self.read_options,
            is_dir: self.is_dir,
        };
        let json = serde_json::to_vec(&identity).expect("an identity always serialises");
        ContentHash::of(&json)
    }

    pub fn total_bytes(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }
}

/// True when `path` is relative, `/`-separated and cannot leave the folder it is joined to.
/// Every path read from a manifest or a request passes this before it touches the disk.
pub fn is_safe_relative_path(path: &str) -> bool {
    !path.is_empty()
        && !path.starts_with('/')
        && !path.contains('\\')
        && !path.contains('\0')
        && path
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != ".." && !c.contains(':'))
}

/// A version about to be recorded.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NewDatasetVersion {
    pub dataset: DatasetName,
    pub id: ContentHash,
    pub created_by: String,
    /// Where it was added from: relative to the project when inside it, else absolute.
    pub source: String,
    pub manifest: Manifest,
    pub profile: DatasetProfile,
}

/// What a listing shows of a recorded version: everything but its manifest and profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionInfo {
    pub dataset: DatasetName,
    pub id: ContentHash,
    /// 1 for the first version added to this dataset, then 2, 3, ...
    pub seq: u64,
    /// RFC 3339, UTC.
    pub created_at: String,
    pub created_by: String,
    /// Where it was added from: relative to the project when inside it, else absolute.
    pub source: String,
    pub rows: u64,
    pub columns: u64,
    pub bytes: u64,
}

/// A recorded, immutable dataset version.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DatasetVersion {
    #[serde(flatten)]
    pub info: VersionInfo,
    pub manifest: Manifest,
    pub profile: DatasetProfile,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_references() {
        let r: DatasetRef = "adult".parse().unwrap();
        assert_eq!(r.version, VersionRef::Latest);
        assert_eq!(
            "adult@3".parse::<DatasetRef>().unwrap().version,
            VersionRef::Seq(3)
        );
        assert_eq!(
            "adult@ABCD12".parse::<DatasetRef>().unwrap().version,
            VersionRef::HashPrefix("abcd12".into())
        );
        assert_eq!(
            "adult@1234567".parse::<DatasetRef>().unwrap().version,
            VersionRef::HashPrefix("1234567".into())
        );
        assert!("adult@0".parse::<DatasetRef>().is_err());
        assert!("adult@xyz".parse::<DatasetRef>().is_err());
        assert!("../x".parse::<DatasetRef>().is_err());
        assert!("".parse::<DatasetRef>().is_err());
    }

    #[test]
    fn rejects_paths_that_leave_the_folder() {
        assert!(is_safe_relative_path("a/b.csv"));
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a//b",
            "./a",
            "a\\b",
            "c:x",
        ] {
            assert!(!is_safe_relative_path(bad), "{bad}");
        }
    }

    #[test]
    fn manifest_id_depends_on_content_and_options() {
        let file = FileEntry {
            path: "a.csv".into(),
            hash: ContentHash::of(b"x"),
            size: 1,
            format: FileFormat::Csv,
            rows: 1,
        };
        let m = Manifest {
            files: vec![file],
            read_options: ReadOptions::default(),
            is_dir: false,
        };
        let mut other = m.clone();
        assert_eq!(m.id(), other.id());
        other.read_options.null_values.push("?".into());
        assert_ne!(m.id(), other.id());
    }
}
