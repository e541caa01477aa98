//! A subject proves "not on the judgment-defaulter list today, and tax credit score ≥ 80" over
//! two holders' signed commitments; a bank checks the proof and the holder signatures with
//! `credence-protocols` alone.
//!
//! Run: `cargo run --example prove_and_verify`

use credence_protocols::commitment::{
    AttributeCommitment, AttributeContext, Opening, SignedAttributeCommitment,
    ATTRIBUTE_TRANSCRIPT_LABEL,
};
use credence_protocols::identifiers::{SubjectId, SubjectKind};
use credence_protocols::names::{AttributeId, PartyId};
use credence_protocols::predicate::{
    CommittedInput, Predicate, PredicateProof, Statement, StatementContext,
};
use credence_protocols::pseudonym::PseudonymKey;
use credence_protocols::signing::{Role, SigningKey};
use credence_protocols::transcript::labels;
use merlin::Transcript;
use rand::rngs::OsRng;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut rng = OsRng;
    let today = 20_415; // days since 1970-01-01
    let subject = SubjectId::parse(SubjectKind::Enterprise, "91330100799655058B")?;
    let pseudonym = PseudonymKey::generate(&mut rng).pseudonym(&subject);

    // Two holders commit and sign.
    let court = SigningKey::generate(Role::Holder, &mut rng);
    let tax = SigningKey::generate(Role::Holder, &mut rng);
    let commit = |holder: &SigningKey, who: &str, attr: &str, value: u64, max: u64| {
        let opening = Opening::random(value, &mut OsRng);
        let context = AttributeContext {
            holder: PartyId::new(who).expect("party id"),
            attribute: AttributeId::new(attr).expect("attribute id"),
            subject: pseudonym,
            submission: 1,
        };
        let c = AttributeCommitment::create(
            &mut Transcript::new(ATTRIBUTE_TRANSCRIPT_LABEL),
            context,
            &opening,
            max,
            &mut OsRng,
        )
        .expect("value within range");
        (SignedAttributeCommitment::sign(c, holder), opening)
    };
    // Listed until day 20000 (a lapsed listing), tax score 86.
    let (listing, listing_opening) = commit(
        &court,
        "court.zhejiang-high",
        "court.dishonest_debtor",
        20_000,
        40_000,
    );
    let (score, score_opening) = commit(&tax, "tax.zhejiang", "tax.credit_score", 86, 100);

    // The subject proves both predicates in one proof.
    let statement = Statement {
        context: StatementContext {
            policy_hash: credence_circuits::policy_hash("example policy v1"),
            subject: pseudonym,
            as_of_day: today,
        },
        inputs: [&listing, &score]
            .iter()
            .map(|s| CommittedInput {
                commitment: s.commitment.commitment,
                max: s.commitment.max,
            })
            .collect(),
        predicates: vec![
            Predicate::NotListedOn {
                input: 0,
                day: today,
            },
            Predicate::AtLeast {
                input: 1,
                threshold: 80,
            },
        ],
    };
    let proof = PredicateProof::prove(
        &mut Transcript::new(labels::APP_VERDICT),
        &statement,
        &[listing_opening, score_opening],
        &mut rng,
    )?;

    // The bank: holder signatures and range certificates, then the proof.
    listing.verify(&court.public())?;
    score.verify(&tax.public())?;
    proof.verify(&mut Transcript::new(labels::APP_VERDICT), &statement)?;
    println!(
        "verified: {} is not listed on day {today} and has a tax score ≥ 80 ({}-byte proof; values stay hidden)",
        pseudonym,
        proof.size()
    );
    Ok(())
}
