//! notation-keyrite: notation's signing plugin for keys keyrite made. notation runs it as
//! `notation-keyrite COMMAND` with the request as JSON on stdin; the answer goes to stdout,
//! or an error object to stderr with exit status 1.

use std::io::{Read, Write};
use std::process::ExitCode;

mod modules;
mod protocol;
mod remote;

use protocol::{ErrorCode, PluginError};

/// Requests larger than this are refused unread: notation's payloads are a few kilobytes.
const MAX_REQUEST_BYTES: u64 = 1024 * 1024;

fn main() -> ExitCode {
    keyrite::sys::hygiene::harden_process();
    // Unattended: a missing secret is an error, never a prompt on notation's terminal.
    keyrite::sys::prompt::set_secret_prompt(Box::new(|_| {
        Err(
            "notation-keyrite never prompts (a token PIN comes from pin-source=file:PATH in \
             the key id or KEYRITE_PIN, a key file's passphrase from KEYRITE_KEY_PASSPHRASE, \
             its age identity from the file KEYRITE_AGE_IDENTITY names)"
                .to_owned(),
        )
    }));
    let answer = run();
    let (mut out, text, status): (Box<dyn Write>, _, _) = match &answer {
        Ok(value) => (
            Box::new(std::io::stdout()),
            value.to_string(),
            ExitCode::SUCCESS,
        ),
        Err(e) => (
            Box::new(std::io::stderr()),
            e.to_json().to_string(),
            ExitCode::FAILURE,
        ),
    };
    if writeln!(out, "{text}").and_then(|()| out.flush()).is_err() {
        return ExitCode::FAILURE;
    }
    status
}

fn run() -> Result<serde_json::Value, PluginError> {
    let mut args = std::env::args().skip(1);
    let (Some(command), None) = (args.next(), args.next()) else {
        return Err(PluginError {
            code: ErrorCode::Validation,
            message: "usage: notation-keyrite COMMAND < request.json (notation runs this \
                      plugin; see `keyrite publisher install-plugin`)"
                .into(),
        });
    };
    let mut request = Vec::new();
    std::io::stdin()
        .take(MAX_REQUEST_BYTES + 1)
        .read_to_end(&mut request)
        .map_err(|e| PluginError {
            code: ErrorCode::Error,
            message: format!("cannot read the request from stdin: {e}"),
        })?;
    if request.len() as u64 > MAX_REQUEST_BYTES {
        return Err(PluginError {
            code: ErrorCode::Validation,
            message: format!("the request is larger than {MAX_REQUEST_BYTES} bytes"),
        });
    }
    protocol::handle(&command, &request)
}
