//! The README's main command tells the story it claims: the right enterprises get verified
//! verdicts, the others cannot prove eligibility, and the audit passes.

#[test]
fn demo_story_outcomes() {
    let report = credence::demo::run().expect("demo runs");
    let outcomes: Vec<(&str, Option<bool>)> = report
        .outcomes
        .iter()
        .map(|(n, o)| (n.as_str(), *o))
        .collect();
    assert_eq!(
        outcomes,
        vec![
            ("Jingcheng Precision Machinery", Some(true)),
            ("Haidian Cloud Software", None),
            ("Chaoyang Logistics (listing repaired today)", Some(true)),
            ("Fengtai Trading", None),
        ]
    );
    assert!(report.audit_ok);
    // 1 policy + 10 holders + 4 × 14 submissions + 2 × (query + verdict).
    assert_eq!(report.log_size, 1 + 10 + 56 + 4);
    assert!(report
        .text
        .contains("statement matches the published policy"));
}
