//! The README's main command tells the story it claims, end to end through the service on the
//! embedded store, with the key authority and the witness as processes of their own: the right enterprises get verified verdicts on both paths, the others get a
//! verified "no" on the sealed path and cannot prove eligibility, and the audit (log, every
//! verdict, an FHE replay) passes.

use credence::cli::demo::EnterpriseOutcome;

#[test]
fn demo_story_outcomes() {
    let mut lines = Vec::new();
    let exe = std::path::Path::new(env!("CARGO_BIN_EXE_credence"));
    let report =
        credence::cli::demo::run(exe, &mut |l| lines.push(l.to_string())).expect("demo runs");
    let got: Vec<(bool, Option<bool>)> = report
        .outcomes
        .iter()
        .map(|EnterpriseOutcome { sealed, proven, .. }| (*sealed, *proven))
        .collect();
    assert_eq!(
        got,
        vec![
            (true, Some(true)), // clean, good scores
            (false, None),      // on the dishonest-debtor list
            (true, Some(true)), // listing ended on the day asked about
            (false, None),      // score 520 < 600
        ]
    );
    // Repair: the listed enterprise is eligible on both paths once the court ends the listing;
    // dispute: the low-score enterprise is once its tax score is corrected.
    assert_eq!(report.after_repair, (true, Some(true)));
    assert_eq!(report.after_correction, (true, Some(true)));
    assert!(report.audit_ok, "{}", report.audit);
    assert!(
        report.audit.contains("FHE evaluations re-checked (inputs complete, current, holder-signed, proofs verified; output recomputed byte for byte): 1"),
        "{}",
        report.audit
    );
    assert!(
        report.audit.contains("verdicts re-verified: 10"),
        "{}",
        report.audit
    );
    assert!(report.audit.contains("1 × repair"), "{}", report.audit);
    assert!(
        report.audit.contains("1 × dispute answered"),
        "{}",
        report.audit
    );
    let text = lines.join("\n");
    // Three processes: the key authority apart from the service.
    assert!(text.contains("three processes: service"), "{text}");
    assert!(text.contains("to and from the key authority"), "{text}");
    assert!(text.contains("receipt verified"));
    assert!(text.contains("cannot prove eligibility"));
    assert!(text.contains("repair receipt verifies"));
    // Where a sealed query's time goes, from the service's own stage metrics.
    assert!(
        text.contains("where a sealed query's time goes") && text.contains("key authority"),
        "{text}"
    );
}
