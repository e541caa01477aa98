//! The `credence` command.
#![forbid(unsafe_code)]

use std::process::ExitCode;

const USAGE: &str = "\
credence — privacy-preserving credit computation

USAGE:
    credence demo      run the verifiable-core story in process (holders commit, a subject
                       proves 信易贷 eligibility, the bank verifies a logged, witnessed verdict,
                       an auditor replays the log)
    credence help      show this message
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("demo") if args.len() == 1 => match credence::demo::run() {
            Ok(report) => {
                print!("{}", report.text);
                if report.audit_ok {
                    println!(
                        "\ndemo finished: {} log entries, audit passed",
                        report.log_size
                    );
                    ExitCode::SUCCESS
                } else {
                    eprintln!("\ndemo finished but the audit FAILED");
                    ExitCode::FAILURE
                }
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
        Some("help" | "--help" | "-h") | None => {
            print!("{USAGE}");
            ExitCode::SUCCESS
        }
        Some(other) => {
            eprintln!("error: unknown command `{}`\n\n{USAGE}", args.join(" "));
            let _ = other;
            ExitCode::from(2)
        }
    }
}
