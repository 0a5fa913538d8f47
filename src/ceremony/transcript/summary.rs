//! The Markdown summary printed for the paper log.

use super::{Entry, Event};

/// A printable Markdown summary: steps, confirmations, exceptions and artefact digests.
pub fn summary(entries: &[Entry]) -> String {
    let mut md = String::new();
    for e in entries {
        match &e.event {
            Event::Start {
                ceremony,
                ceremony_id,
                script_sha256,
                rehearsal,
                confirmed_by,
                ..
            } => {
                md.push_str(&format!(
                    "# Ceremony `{ceremony}`{}\n\n",
                    if *rehearsal { " — REHEARSAL" } else { "" }
                ));
                md.push_str(&format!("- ceremony id: `{ceremony_id}`\n- started: {}\n- script SHA-256: `{script_sha256}`\n", e.time));
                if let Ok(fp) = crate::fingerprint::Fingerprint::parse(script_sha256) {
                    md.push_str(&format!("- script words: {}\n", fp.words().join(" ")));
                }
                md.push_str(&format!(
                    "- script hash confirmed by: {}\n\n## Steps\n\n",
                    confirmed_by.join(", ")
                ));
            }
            Event::Step {
                step,
                title,
                action,
                confirmed_by,
                inputs,
                outputs,
                summary,
                shown,
            } => {
                md.push_str(&format!(
                    "### {step}. {title} (`{}`)\n\n{summary}\n\n",
                    action.name()
                ));
                if !shown.is_empty() {
                    md.push_str("Shown before confirmation:\n\n```\n");
                    for line in shown {
                        md.push_str(&format!("{line}\n"));
                    }
                    md.push_str("```\n\n");
                }
                md.push_str(&format!(
                    "- finished: {}\n- confirmed by: {}\n",
                    e.time,
                    confirmed_by.join(", ")
                ));
                for a in inputs {
                    md.push_str(&format!("- read {} `{}`: `{}`\n", a.role, a.path, a.sha256));
                }
                for a in outputs {
                    md.push_str(&format!("- {} `{}`: `{}`\n", a.role, a.path, a.sha256));
                }
                md.push('\n');
            }
            Event::Exception { step, text } => {
                md.push_str(&format!(
                    "**Exception{}** ({}): {text}\n\n",
                    step.map(|s| format!(" at step {s}")).unwrap_or_default(),
                    e.time
                ));
            }
            Event::End { steps } => {
                md.push_str(&format!("## End\n\n{steps} steps, finished {}.\n", e.time))
            }
            Event::Begin { .. } => {}
        }
    }
    md
}
