//! The ML Test Score (Breck et al., "The ML Test Score: A Rubric for ML Production Readiness
//! and Technical Debt Reduction", IEEE Big Data 2017): 28 tests in four sections. A test done
//! by hand, with its results recorded, scores half a point; done automatically and repeatedly,
//! one point. A section sums its tests (at most 7); the final score is the lowest section's.
//!
//! This module holds the rubric and the arithmetic. What counts as evidence for each test is
//! gathered from a project by `gyre_ops` (`Project::check`).

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Section {
    Data,
    Model,
    Infrastructure,
    Monitoring,
}

impl Section {
    pub const ALL: [Section; 4] = [
        Section::Data,
        Section::Model,
        Section::Infrastructure,
        Section::Monitoring,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Section::Data => "Features and data",
            Section::Model => "Model development",
            Section::Infrastructure => "ML infrastructure",
            Section::Monitoring => "Monitoring",
        }
    }

    fn prefix(self) -> &'static str {
        match self {
            Section::Data => "data",
            Section::Model => "model",
            Section::Infrastructure => "infra",
            Section::Monitoring => "monitor",
        }
    }
}

/// One test of the rubric.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Test {
    pub section: Section,
    /// 1–7 within its section.
    pub number: u8,
    pub name: &'static str,
}

impl Test {
    /// `data.1` … `monitor.7`: what `gyre check attest` takes.
    pub fn id(&self) -> String {
        format!("{}.{}", self.section.prefix(), self.number)
    }
}

const fn t(section: Section, number: u8, name: &'static str) -> Test {
    Test {
        section,
        number,
        name,
    }
}

/// The 28 tests, in the paper's order.
pub const TESTS: [Test; 28] = [
    t(
        Section::Data,
        1,
        "Feature expectations are captured in a schema",
    ),
    t(Section::Data, 2, "All features are beneficial"),
    t(Section::Data, 3, "No feature's cost is too much"),
    t(
        Section::Data,
        4,
        "Features adhere to meta-level requirements",
    ),
    t(
        Section::Data,
        5,
        "The data pipeline has appropriate privacy controls",
    ),
    t(Section::Data, 6, "New features can be added quickly"),
    t(Section::Data, 7, "All input feature code is tested"),
    t(Section::Model, 1, "Model specs are reviewed and submitted"),
    t(Section::Model, 2, "Offline and online metrics correlate"),
    t(Section::Model, 3, "All hyperparameters have been tuned"),
    t(Section::Model, 4, "The impact of model staleness is known"),
    t(Section::Model, 5, "A simpler model is not better"),
    t(
        Section::Model,
        6,
        "Model quality is sufficient on important data slices",
    ),
    t(
        Section::Model,
        7,
        "The model is tested for considerations of inclusion",
    ),
    t(Section::Infrastructure, 1, "Training is reproducible"),
    t(Section::Infrastructure, 2, "Model specs are unit tested"),
    t(
        Section::Infrastructure,
        3,
        "The ML pipeline is integration tested",
    ),
    t(
        Section::Infrastructure,
        4,
        "Model quality is validated before serving",
    ),
    t(Section::Infrastructure, 5, "The model is debuggable"),
    t(
        Section::Infrastructure,
        6,
        "Models are canaried before serving",
    ),
    t(
        Section::Infrastructure,
        7,
        "Serving models can be rolled back",
    ),
    t(
        Section::Monitoring,
        1,
        "Dependency changes result in notification",
    ),
    t(
        Section::Monitoring,
        2,
        "Data invariants hold for inputs (training and serving)",
    ),
    t(
        Section::Monitoring,
        3,
        "Training and serving are not skewed",
    ),
    t(Section::Monitoring, 4, "Models are not too stale"),
    t(Section::Monitoring, 5, "Models are numerically stable"),
    t(
        Section::Monitoring,
        6,
        "Computing performance has not regressed",
    ),
    t(
        Section::Monitoring,
        7,
        "Prediction quality has not regressed",
    ),
];

/// The test with id `id` (`data.1`), if there is one.
pub fn test(id: &str) -> Option<Test> {
    TESTS.iter().copied().find(|t| t.id() == id)
}

/// How a test is met.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "how", rename_all = "snake_case")]
pub enum Grade {
    /// Done automatically and repeatedly: 1 point, with the evidence found.
    Automated { evidence: Vec<String> },
    /// Done by hand, as an attestation records: ½ point.
    Manual {
        note: String,
        by: String,
        at_ms: i64,
    },
    /// No evidence: 0, and what would raise it.
    Missing { raise: String },
}

impl Grade {
    pub fn points(&self) -> f64 {
        match self {
            Grade::Automated { .. } => 1.0,
            Grade::Manual { .. } => 0.5,
            Grade::Missing { .. } => 0.0,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Scored {
    pub id: String,
    #[serde(flatten)]
    pub test: Test,
    pub points: f64,
    #[serde(flatten)]
    pub grade: Grade,
}

#[derive(Debug, Clone, Serialize)]
pub struct SectionScore {
    pub section: Section,
    pub title: &'static str,
    pub points: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct TestScore {
    pub tests: Vec<Scored>,
    pub sections: Vec<SectionScore>,
    /// The lowest section's points.
    pub score: f64,
    /// What the paper says a score means.
    pub meaning: &'static str,
}

/// The paper's reading of a final score.
pub fn meaning(score: f64) -> &'static str {
    match score {
        s if s <= 0.0 => "more of a research project than a productionized system",
        s if s <= 1.0 => {
            "not totally untested, but it is worth considering the possibility of serious holes in reliability"
        }
        s if s <= 2.0 => {
            "there has been first pass at basic productionization, but additional investment may be needed"
        }
        s if s <= 3.0 => {
            "reasonably tested, but it is possible that more of those tests and procedures may be automated"
        }
        s if s <= 5.0 => {
            "strong levels of automated testing and monitoring, appropriate for mission-critical systems"
        }
        _ => "exceptional levels of automated testing and monitoring",
    }
}

/// Scores graded tests: `grades` gives each of [`TESTS`] its grade, in order.
pub fn score(grades: Vec<Grade>) -> TestScore {
    assert_eq!(grades.len(), TESTS.len(), "one grade per test");
    let tests: Vec<Scored> = TESTS
        .iter()
        .zip(grades)
        .map(|(t, grade)| Scored {
            id: t.id(),
            test: *t,
            points: grade.points(),
            grade,
        })
        .collect();
    let sections: Vec<SectionScore> = Section::ALL
        .iter()
        .map(|&s| SectionScore {
            section: s,
            title: s.title(),
            points: tests
                .iter()
                .filter(|t| t.test.section == s)
                .map(|t| t.points)
                .sum(),
        })
        .collect();
    let score = sections
        .iter()
        .map(|s| s.points)
        .fold(f64::INFINITY, f64::min);
    TestScore {
        tests,
        sections,
        score,
        meaning: meaning(score),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_sections_hold_seven() {
        let ids: std::collections::BTreeSet<String> = TESTS.iter().map(Test::id).collect();
        assert_eq!(ids.len(), 28);
        for s in Section::ALL {
            assert_eq!(TESTS.iter().filter(|t| t.section == s).count(), 7);
        }
        assert_eq!(
            test("monitor.7").unwrap().name,
            "Prediction quality has not regressed"
        );
        assert!(test("monitor.8").is_none());
    }

    #[test]
    fn the_final_score_is_the_lowest_section() {
        // Data: 7 automated; model: 3 manual; infrastructure: 4 automated; monitoring: 2
        // automated and 1 manual.
        let grades: Vec<Grade> = TESTS
            .iter()
            .map(|t| {
                let auto = Grade::Automated { evidence: vec![] };
                let manual = Grade::Manual {
                    note: "n".into(),
                    by: "u".into(),
                    at_ms: 0,
                };
                let none = Grade::Missing { raise: "r".into() };
                match (t.section, t.number) {
                    (Section::Data, _) => auto,
                    (Section::Model, n) if n <= 3 => manual,
                    (Section::Infrastructure, n) if n <= 4 => auto,
                    (Section::Monitoring, n) if n <= 2 => auto,
                    (Section::Monitoring, 3) => manual,
                    _ => none,
                }
            })
            .collect();
        let s = score(grades);
        let points: Vec<f64> = s.sections.iter().map(|x| x.points).collect();
        assert_eq!(points, [7.0, 1.5, 4.0, 2.5]);
        assert_eq!(s.score, 1.5);
        assert!(s.meaning.starts_with("there has been first pass"));
    }
}
