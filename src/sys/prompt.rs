//! Secrets typed by a person (PINs, passphrases): on the terminal without echo, or on the
//! terminal UI's masked entry screen when it is running.

use std::cell::RefCell;

use zeroize::Zeroizing;

/// Asks for a secret: `prompt → secret`, or `Err(why)` when none was given.
pub type SecretPrompt = Box<dyn FnMut(&str) -> Result<Zeroizing<String>, String>>;

thread_local! {
    /// The prompt a terminal UI installs in place of the line prompt.
    static PROMPT: RefCell<Option<SecretPrompt>> = const { RefCell::new(None) };
}

/// Routes secret prompts on this thread to `prompt` (the terminal UI's masked entry screen).
pub fn set_secret_prompt(prompt: SecretPrompt) {
    PROMPT.with(|p| *p.borrow_mut() = Some(prompt));
}

/// Reads a secret after showing `prompt`, without echo.
pub fn secret(prompt: &str) -> Result<Zeroizing<String>, String> {
    let hooked = PROMPT.with(|p| p.borrow_mut().as_mut().map(|f| f(prompt)));
    match hooked {
        Some(answer) => answer,
        None => rpassword::prompt_password(prompt)
            .map(Zeroizing::new)
            .map_err(|e| {
                format!(
                    "could not read it from the terminal ({e}); secrets are typed at a \
                     terminal, never given as arguments"
                )
            }),
    }
}
