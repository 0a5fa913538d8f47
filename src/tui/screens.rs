//! The screens, as pure functions of what they show: the same code draws on the terminal and
//! on ratatui's TestBackend in the tests.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Text};
use ratatui::widgets::{Block, Borders, Clear, List, ListItem, ListState, Paragraph, Wrap};

use crate::pki::name::hidden_escaped;

const FOOTER_HELP: &str = "? help";

fn frame_block(title: &str) -> Block<'_> {
    Block::default()
        .borders(Borders::ALL)
        .title(format!(" {title} "))
}

fn split(area: Rect) -> (Rect, Rect) {
    let [body, footer] = Layout::vertical([Constraint::Min(3), Constraint::Length(1)]).areas(area);
    (body, footer)
}

fn paragraph<'a>(text: impl Into<Text<'a>>, title: &'a str) -> Paragraph<'a> {
    Paragraph::new(text)
        .block(frame_block(title))
        .wrap(Wrap { trim: false })
}

/// A list to pick from (scripts, profiles).
pub fn picker(f: &mut Frame<'_>, title: &str, items: &[String], selected: usize) {
    let (body, footer) = split(f.area());
    let list = List::new(items.iter().map(|i| ListItem::new(i.as_str())))
        .block(frame_block(title))
        .highlight_symbol("> ")
        .highlight_style(Style::default().add_modifier(Modifier::BOLD));
    let mut state = ListState::default().with_selected(Some(selected));
    f.render_stateful_widget(list, body, &mut state);
    f.render_widget(
        Line::from(format!(
            "Up/Down choose · Enter select · q quit · {FOOTER_HELP}"
        )),
        footer,
    );
}

/// The script's hash, for the witnesses to compare with their reviewed copy.
pub fn script_hash(
    f: &mut Frame<'_>,
    name: &str,
    title: &str,
    hex: &str,
    words: &[String],
    rehearsal: bool,
) {
    let (body, footer) = split(f.area());
    let mut lines = vec![
        Line::from(format!(
            "Ceremony: {title} ({name}){}",
            if rehearsal { " — REHEARSAL" } else { "" }
        )),
        Line::from(""),
        Line::from("Compare the script's SHA-256 with the reviewed copy, read aloud:"),
        Line::from(""),
        Line::from(hex[..32.min(hex.len())].to_owned()),
        Line::from(hex[32.min(hex.len())..].to_owned()),
        Line::from(""),
    ];
    lines.extend(words.chunks(8).map(|c| Line::from(c.join(" "))));
    f.render_widget(paragraph(lines, "Script hash"), body);
    f.render_widget(
        Line::from(format!(
            "y the administrator confirms the match · n it does not match · {FOOTER_HELP}"
        )),
        footer,
    );
}

/// A step waiting for its confirmations: its instruction, what it does, what the root will
/// sign (`shown`, scrolled down by `scroll` lines), and its roles, which stay in view.
#[allow(clippy::too_many_arguments)]
pub fn step(
    f: &mut Frame<'_>,
    n: usize,
    total: usize,
    title: &str,
    instruction: &str,
    what: &str,
    shown: &[String],
    scroll: u16,
    roles: &[(String, String, bool)],
) {
    let (body, footer) = split(f.area());
    let rows = u16::try_from(roles.len())
        .unwrap_or(u16::MAX)
        .saturating_add(2);
    let [top, bottom] =
        Layout::vertical([Constraint::Min(3), Constraint::Length(rows)]).areas(body);
    let mut lines = vec![
        Line::from(instruction.to_owned()),
        Line::from(""),
        Line::from(format!("What will happen: {what}")),
    ];
    if !shown.is_empty() {
        lines.push(Line::from(""));
        lines.push(Line::from(
            "What the root will sign (read it all before confirming):",
        ));
        lines.extend(shown.iter().map(|l| Line::from(format!("  {l}"))));
    }
    f.render_widget(
        paragraph(lines, &format!("Step {n} of {total}: {title}")).scroll((scroll, 0)),
        top,
    );
    let confirmations: Vec<Line<'_>> = roles
        .iter()
        .enumerate()
        .map(|(i, (key, desc, done))| {
            let short = desc.split(':').next().unwrap_or(desc);
            Line::from(format!(
                "  {} [{}] {key} ({short})",
                i + 1,
                if *done { "x" } else { " " }
            ))
        })
        .collect();
    f.render_widget(paragraph(confirmations, "Confirmations"), bottom);
    let all = roles.iter().all(|r| r.2);
    let scrolling = if shown.is_empty() {
        ""
    } else {
        "Up/Down scroll · "
    };
    f.render_widget(
        Line::from(if all {
            format!(
                "{scrolling}Enter run the step · x record an exception and stop · {FOOTER_HELP}"
            )
        } else {
            format!(
                "{scrolling}1-9 confirm a role · x record an exception and stop · {FOOTER_HELP}"
            )
        }),
        footer,
    );
}

/// A step running.
pub fn working(f: &mut Frame<'_>, n: usize, total: usize, title: &str) {
    let (body, _) = split(f.area());
    f.render_widget(
        paragraph(
            vec![Line::from("Working… do not remove any token.")],
            &format!("Step {n} of {total}: {title}"),
        ),
        body,
    );
}

/// What a step did: its summary and its outputs' digests as words.
pub fn result(
    f: &mut Frame<'_>,
    n: usize,
    total: usize,
    title: &str,
    summary: &str,
    outputs: &[(String, Vec<String>)],
) {
    let (body, footer) = split(f.area());
    let mut lines = vec![Line::from(summary.to_owned()), Line::from("")];
    // One line per output, so a root's twelve files fit 80x24.
    for (path, words) in outputs {
        lines.push(Line::from(format!("{path}  {}", words.join(" "))));
    }
    f.render_widget(
        paragraph(lines, &format!("Step {n} of {total} done: {title}")),
        body,
    );
    f.render_widget(
        Line::from(format!("Enter continue · {FOOTER_HELP}")),
        footer,
    );
}

/// One custodian's share card on a cleared screen, with its QR when the terminal is large
/// enough (half-block characters: two modules a cell), else its typed lines.
pub fn card(
    f: &mut Frame<'_>,
    custodian: &str,
    index: &str,
    qr: Option<(usize, &[bool])>,
    typed: &[String],
) {
    f.render_widget(Clear, f.area());
    let (body, footer) = split(f.area());
    let mut lines = vec![
        Line::from(format!(
            "Share card {index} for {custodian} — only {custodian} looks at the screen now."
        )),
        Line::from(""),
    ];
    let fits = qr.is_some_and(|(w, _)| {
        w + 4 <= usize::from(body.width.saturating_sub(2))
            && (w + 4).div_ceil(2) + 4 <= usize::from(body.height.saturating_sub(2))
    });
    match qr {
        Some((width, modules)) if fits => {
            let side = width + 4;
            let dark = |x: usize, y: usize| {
                x >= 2
                    && y >= 2
                    && x < width + 2
                    && y < width + 2
                    && modules[(y - 2) * width + (x - 2)]
            };
            for y in (0..side).step_by(2) {
                let row: String = (0..side)
                    .map(|x| match (dark(x, y), dark(x, y + 1)) {
                        (false, false) => '█',
                        (true, false) => '▄',
                        (false, true) => '▀',
                        (true, true) => ' ',
                    })
                    .collect();
                lines.push(Line::from(row));
            }
        }
        _ => {
            lines.push(Line::from(
                "The terminal is too small for the QR code; the card's typed lines:",
            ));
            lines.extend(typed.iter().map(|l| Line::from(l.clone())));
        }
    }
    f.render_widget(paragraph(lines, "Share card"), body);
    f.render_widget(
        Line::from(format!(
            "Enter {custodian} has taken the card and the screen is cleared"
        )),
        footer,
    );
}

/// Masked entry of a PIN or passphrase: only its length shows.
pub fn secret(f: &mut Frame<'_>, prompt: &str, typed: usize) {
    let (body, footer) = split(f.area());
    let lines = vec![
        Line::from("Only the person the prompt names types now; the others look away."),
        Line::from(""),
        Line::from(format!("{} {}", prompt.trim_end(), "*".repeat(typed))),
    ];
    f.render_widget(paragraph(lines, "Secret entry"), body);
    f.render_widget(
        Line::from("Enter submit · Esc cancel (the step stops)"),
        footer,
    );
}

/// An exception being recorded.
pub fn exception(f: &mut Frame<'_>, n: usize, text: &str) {
    let (body, footer) = split(f.area());
    let lines = vec![
        Line::from(format!(
            "Exception at step {n}: what happened, in the administrator's words."
        )),
        Line::from(""),
        Line::from(format!("{text}_")),
    ];
    f.render_widget(paragraph(lines, "Exception"), body);
    f.render_widget(
        Line::from("Enter record it and stop the ceremony · Esc go back"),
        footer,
    );
}

/// A message (a resumed ceremony, a failure).
pub fn notice(f: &mut Frame<'_>, title: &str, text: &str) {
    let (body, footer) = split(f.area());
    f.render_widget(paragraph(hidden_escaped(text), title), body);
    f.render_widget(Line::from("Enter continue"), footer);
}

/// Help.
pub fn help(f: &mut Frame<'_>) {
    let area = f.area();
    f.render_widget(Clear, area);
    let lines: Vec<Line<'_>> = [
        "keyrite runs the reviewed script one step at a time.",
        "",
        "Every step lists the roles that must confirm it: press the role's number",
        "when that person has checked the step. Enter runs a step only when every",
        "role has confirmed. x records an exception in the transcript and stops;",
        "a stopped ceremony resumes at the same step when it is opened again.",
        "",
        "Share cards are shown one at a time on a cleared screen: only their",
        "custodian looks. Digests are shown as words to read aloud.",
        "",
        "Press any key to go back.",
    ]
    .into_iter()
    .map(Line::from)
    .collect();
    f.render_widget(paragraph(lines, "Help"), area);
}

/// The end: where the transcript, signature and summary are, or why the ceremony stopped.
pub fn finished(f: &mut Frame<'_>, title: &str, lines: &[String]) {
    let (body, footer) = split(f.area());
    let text: Vec<Line<'_>> = lines
        .iter()
        .map(|l| Line::from(hidden_escaped(l)))
        .collect();
    f.render_widget(paragraph(text, title), body);
    f.render_widget(Line::from("q quit"), footer);
}
