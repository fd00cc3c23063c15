//! The drift engine on real data and on odd data.

use gyre_core::{FileFormat, ReadOptions};
use gyre_data::drift::{self, ColumnSample, DriftOptions, DriftReport, Kind, Method, Reference};
use gyre_data::{InputFile, merge_profiles, profile_file};
use std::path::Path;

fn elec2_lines() -> Vec<String> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/elec2/elec2_first_half.csv");
    std::fs::read_to_string(p)
        .unwrap()
        .lines()
        .map(String::from)
        .collect()
}

fn write(dir: &Path, name: &str, body: &str) -> InputFile {
    let path = dir.join(name);
    std::fs::write(&path, body).unwrap();
    InputFile {
        path,
        display: name.into(),
        format: FileFormat::Csv,
    }
}

/// Rows [a, b) of elec2 (0-based data rows), with the header.
fn elec2_slice(dir: &Path, name: &str, a: usize, b: usize) -> InputFile {
    let lines = elec2_lines();
    let body: String = std::iter::once(&lines[0])
        .chain(&lines[1 + a..1 + b])
        .map(|l| format!("{l}\n"))
        .collect();
    write(dir, name, &body)
}

fn samples(file: &InputFile) -> (Vec<String>, Vec<ColumnSample>, u64) {
    drift::read_samples(std::slice::from_ref(file), &ReadOptions::default(), &|_| {}).unwrap()
}

fn run(reference: &InputFile, current: &InputFile, options: &DriftOptions) -> DriftReport {
    let (rn, rs, rrows) = samples(reference);
    let (cn, cs, crows) = samples(current);
    let r: Vec<(String, Reference<'_>)> =
        rn.into_iter().zip(rs.iter().map(Reference::Data)).collect();
    let c: Vec<(String, &ColumnSample)> = cn.into_iter().zip(cs.iter()).collect();
    drift::drift(&r, rrows, &c, crows, options)
}

/// [`run`] against the reference's stored profile instead of its data.
fn run_from_profile(
    reference: &InputFile,
    current: &InputFile,
    options: &DriftOptions,
) -> DriftReport {
    let p = profile_file(reference, &ReadOptions::default(), &|_| {}).unwrap();
    let profile = merge_profiles(vec![(reference.display.clone(), p)]).unwrap();
    let (cn, cs, crows) = samples(current);
    let r: Vec<(String, Reference<'_>)> = profile
        .columns
        .iter()
        .map(|c| (c.name.clone(), Reference::Profile(c)))
        .collect();
    let c: Vec<(String, &ColumnSample)> = cn.into_iter().zip(cs.iter()).collect();
    drift::drift(&r, profile.rows, &c, crows, options)
}

fn drifted(report: &DriftReport) -> Vec<&str> {
    report
        .columns
        .iter()
        .filter(|c| c.drifted == Some(true))
        .map(|c| c.name.as_str())
        .collect()
}

fn col<'a>(report: &'a DriftReport, name: &str) -> &'a drift::ColumnDrift {
    report.columns.iter().find(|c| c.name == name).unwrap()
}

#[test]
fn elec2_first_and_last_month() {
    let dir = tempfile::tempdir().unwrap();
    let first = elec2_slice(dir.path(), "first.csv", 0, 1440);
    let last = elec2_slice(dir.path(), "last.csv", 22656 - 1440, 22656);
    let report = run(&first, &last, &DriftOptions::default());
    let flagged = drifted(&report);
    for c in ["vicprice", "vicdemand", "transfer"] {
        assert!(flagged.contains(&c), "{c} must drift: {flagged:?}");
        // One value in the reference: compared as categories, and the current values are
        // all new ones.
        let d = col(&report, c);
        assert_eq!(d.kind, Some(Kind::Categorical), "{c}");
        assert!(
            d.notes.iter().any(|n| n.contains("not in the reference")),
            "{c}"
        );
    }
    let day = col(&report, "day");
    assert_eq!(day.drifted, Some(false), "{day:?}");
    assert_eq!(day.kind, Some(Kind::Numeric));
    assert_eq!(
        day.method,
        Some(Method::Wasserstein),
        "1,440 reference rows are a large sample"
    );
    assert_eq!(col(&report, "class").method, Some(Method::Jensenshannon));
    assert_eq!(report.judged, 9);
    assert!((report.share - report.drifted as f64 / 9.0).abs() < 1e-12);

    // The same from the stored profile of the first month: bins fixed by the reference.
    let from_profile = run_from_profile(&first, &last, &DriftOptions::default());
    let flagged = drifted(&from_profile);
    for c in ["vicprice", "vicdemand", "transfer"] {
        assert!(
            flagged.contains(&c),
            "{c} must drift from the profile too: {flagged:?}"
        );
    }
    assert_eq!(col(&from_profile, "day").drifted, Some(false));
    assert!(col(&from_profile, "nswdemand").approximate);
    // Profile-based PSI uses the same bins as raw PSI, so they agree exactly.
    let (a, b) = (
        col(&report, "nswdemand").psi.unwrap(),
        col(&from_profile, "nswdemand").psi.unwrap(),
    );
    assert!((a - b).abs() < 1e-12, "{a} vs {b}");
}

#[test]
fn methods_and_thresholds_can_be_chosen() {
    let dir = tempfile::tempdir().unwrap();
    let first = elec2_slice(dir.path(), "first.csv", 0, 1440);
    let last = elec2_slice(dir.path(), "last.csv", 22656 - 1440, 22656);
    let mut options = DriftOptions::default();
    options.methods.insert("day".into(), Method::Ks);
    options.methods.insert("class".into(), Method::Ks);
    options.thresholds.insert(Method::Psi, 100.0);
    options.methods.insert("nswdemand".into(), Method::Psi);
    let report = run(&first, &last, &options);
    assert_eq!(col(&report, "day").method, Some(Method::Ks));
    let class = col(&report, "class");
    assert_eq!(
        class.method,
        Some(Method::Jensenshannon),
        "KS does not apply to categories"
    );
    assert!(class.notes[0].contains("does not apply"));
    let nd = col(&report, "nswdemand");
    assert_eq!(
        (nd.method, nd.threshold, nd.drifted),
        (Some(Method::Psi), 100.0, Some(false))
    );
}

#[test]
fn odd_data_gets_a_result_per_column() {
    let dir = tempfile::tempdir().unwrap();
    let reference = write(
        dir.path(),
        "ref.csv",
        &format!(
            "num,empty,constant,single,mixed,cat,gone\n{}",
            (0..200)
                .map(|i| format!("{},,{},a,{},{},1\n", i % 50, 7, i, ["x", "y"][i % 2]))
                .collect::<String>()
        ),
    );
    let current = write(
        dir.path(),
        "cur.csv",
        "num,empty,constant,single,mixed,cat,new\nnan,,7,a,abc,z,1\ninf,,7,a,5,x,1\n3,,7,a,6,x,1\n",
    );
    let report = run(&reference, &current, &DriftOptions::default());
    let notes = |name: &str| col(&report, name).notes.join(" | ");
    assert!(notes("num").contains("infinite"), "{}", notes("num"));
    assert_eq!(col(&report, "num").current.nulls, 1, "NaN is missing");
    assert!(col(&report, "empty").drifted.is_none());
    assert!(notes("empty").contains("no values"), "{}", notes("empty"));
    assert_eq!(
        col(&report, "constant").drifted,
        Some(false),
        "{}",
        notes("constant")
    );
    assert_eq!(
        col(&report, "single").drifted,
        Some(false),
        "{}",
        notes("single")
    );
    assert!(notes("single").contains("single category"));
    assert!(notes("mixed").contains("not numbers"), "{}", notes("mixed"));
    assert!(
        notes("cat").contains("`z`"),
        "unseen categories are named: {}",
        notes("cat")
    );
    assert!(notes("gone").contains("missing in the current"));
    assert!(notes("new").contains("not in the reference"));
    assert!(
        report.current_rows * 50 < report.reference_rows,
        "sizes differ by orders of magnitude"
    );

    // A reference whose numbers are all infinite.
    let inf = write(dir.path(), "inf.csv", "x\ninf\n-inf\ninf\n");
    let cur = write(dir.path(), "cur2.csv", "x\n1\n2\n");
    let report = run(&inf, &cur, &DriftOptions::default());
    assert!(report.columns[0].drifted.is_none());
    assert!(
        report.columns[0]
            .notes
            .iter()
            .any(|n| n.contains("no finite numbers"))
    );

    // An empty current dataset: every column says why it was not judged.
    let empty = write(
        dir.path(),
        "empty.csv",
        "num,empty,constant,single,mixed,cat,gone\n",
    );
    let report = run(&reference, &empty, &DriftOptions::default());
    assert_eq!(report.judged, 0);
    assert!(!report.dataset_drift);
    assert!(
        report
            .columns
            .iter()
            .all(|c| c.drifted.is_none() && !c.notes.is_empty())
    );
}

/// Seeded normal draws (xorshift and Box–Muller; the test needs no RNG crate).
struct Normal(u64);

impl Normal {
    fn uniform(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        ((self.0 >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }
    fn draw(&mut self, loc: f64, scale: f64) -> f64 {
        let (u, v) = (self.uniform(), self.uniform());
        loc + scale * (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

/// The drift benchmark's shape (bench/drift.sh: 20 normal columns, 5 of them shifted by 0.3,
/// and 5 categorical, 2 of them reweighted), smaller: from the stored profile the verdicts
/// are the full data's. They used to flag nearly every column: mass at bin centres cost
/// about 0.12 standard deviations of Wasserstein distance with nothing changed.
#[test]
fn verdicts_from_a_profile_agree_with_the_full_data() {
    let dir = tempfile::tempdir().unwrap();
    let n = 60_000;
    let mut rng = Normal(0x853c_49e6_748f_ea9b);
    let mut table = |shift: bool| {
        let mut header: Vec<String> = (0..20).map(|i| format!("num{i:02}")).collect();
        header.extend((0..5).map(|j| format!("cat{j}")));
        let mut body = header.join(",") + "\n";
        for _ in 0..n {
            let mut row: Vec<String> = (0..20)
                .map(|i| {
                    let loc = i as f64 + if shift && i < 5 { 0.3 } else { 0.0 };
                    format!("{:.6}", rng.draw(loc, 1.0 + i as f64 / 10.0))
                })
                .collect();
            for j in 0..5 {
                // Uniform over ten categories; two columns lean to the higher ones.
                let u = rng.uniform();
                let k = if shift && j < 2 {
                    ((u.sqrt()) * 10.0) as usize
                } else {
                    (u * 10.0) as usize
                };
                row.push(format!("c{}", k.min(9)));
            }
            body += &(row.join(",") + "\n");
        }
        body
    };
    let reference = write(dir.path(), "ref.csv", &table(false));
    let current = write(dir.path(), "cur.csv", &table(true));
    let full = run(&reference, &current, &DriftOptions::default());

    let from_profile = run_from_profile(&reference, &current, &DriftOptions::default());

    let want: Vec<&str> = vec!["cat0", "cat1", "num00", "num01", "num02", "num03", "num04"];
    let mut got = drifted(&full);
    got.sort();
    assert_eq!(got, want, "the full data");
    let mut got = drifted(&from_profile);
    got.sort();
    assert_eq!(got, want, "the profile");
    for i in 5..20 {
        let name = format!("num{i:02}");
        let w = col(&from_profile, &name).wasserstein_normed.unwrap();
        assert!(
            w < 0.03,
            "{name}: {w} from the profile, with nothing changed"
        );
    }
    for i in 0..5 {
        let name = format!("num{i:02}");
        let (a, b) = (
            col(&full, &name).wasserstein_normed.unwrap(),
            col(&from_profile, &name).wasserstein_normed.unwrap(),
        );
        assert!(
            (a - b).abs() < 0.02,
            "{name}: {a} from the data, {b} from the profile"
        );
    }
}
