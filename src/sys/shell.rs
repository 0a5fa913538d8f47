//! Shell completions and man pages, generated from a binary's own clap definitions so they
//! never drift from its arguments.

use std::path::{Path, PathBuf};

pub use clap_complete::Shell;

use super::output::{self, OutputError};

/// `shell`'s completion script for `cmd` (named `bin`). Made in memory: clap_complete
/// panics when its writer fails, and a closed stdout is no reason to panic.
pub fn completions(cmd: &mut clap::Command, bin: &str, shell: Shell) -> Vec<u8> {
    let mut script = Vec::new();
    clap_complete::generate(shell, cmd, bin, &mut script);
    script
}

/// Writes a man page (section 1) for `cmd` and one for each of its subcommands into `dir`
/// (`keyrite.1`, `keyrite-delegate-issue.1`, …), never over an existing file. Returns them.
pub fn man_pages(cmd: clap::Command, dir: &Path) -> Result<Vec<PathBuf>, OutputError> {
    let mut pages = Vec::new();
    collect(cmd.clone(), cmd.get_name().to_owned(), &mut pages)?;
    let files: Vec<(&str, &[u8], u32)> = pages
        .iter()
        .map(|(name, page)| (name.as_str(), page.as_slice(), output::PUBLIC))
        .collect();
    output::write_new_files(dir, &files)?;
    Ok(pages.iter().map(|(name, _)| dir.join(name)).collect())
}

/// Renders `cmd` as `name.1`, then its subcommands (help aside) as `name-sub.1`.
fn collect(
    cmd: clap::Command,
    name: String,
    pages: &mut Vec<(String, Vec<u8>)>,
) -> Result<(), OutputError> {
    let mut page = Vec::new();
    clap_mangen::Man::new(
        cmd.clone()
            .bin_name(name.clone())
            .display_name(name.clone()),
    )
    .title(name.clone())
    .render(&mut page)
    .map_err(|source| OutputError::Io {
        path: PathBuf::from(format!("{name}.1")),
        source,
    })?;
    pages.push((format!("{name}.1"), page));
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        collect(sub.clone(), format!("{name}-{}", sub.get_name()), pages)?;
    }
    Ok(())
}
