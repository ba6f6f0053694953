//! Passwords and passphrases: from an environment variable named on the command line (scripts, tests), from
//! a prompt on the terminal (no echo), or, with no terminal, from one line of standard input. They are kept
//! in [`Zeroizing`] buffers and never printed.

use std::io::{BufRead, IsTerminal};

use zeroize::Zeroizing;

use e2ee_client::error::{ClientError, Result};

/// Where a secret comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StdinUse {
    /// Standard input is free: without a terminal, the secret is read as its first line.
    Free,
    /// Standard input carries other data (e.g. the message): only the terminal may be asked.
    Busy,
}

/// Reads a secret from the environment variable `var` (must be set and non-empty).
pub fn from_env(var: &str, what: &str) -> Result<Zeroizing<String>> {
    match std::env::var(var) {
        Ok(value) if !value.is_empty() => Ok(Zeroizing::new(value)),
        Ok(_) => Err(ClientError::Usage(format!(
            "environment variable {var} (the {what}) is empty"
        ))),
        Err(_) => Err(ClientError::Usage(format!(
            "environment variable {var} (the {what}) is not set"
        ))),
    }
}

/// Reads the first line of `input` as a secret (without its line ending); empty is an error.
pub fn read_line_secret(mut input: impl BufRead, what: &str) -> Result<Zeroizing<String>> {
    let mut line = Zeroizing::new(String::new());
    input
        .read_line(&mut line)
        .map_err(|e| ClientError::io(format!("cannot read the {what} from standard input"), e))?;
    let trimmed = Zeroizing::new(line.trim_end_matches(['\r', '\n']).to_owned());
    if trimmed.is_empty() {
        return Err(ClientError::Usage(format!(
            "no {what} given: type it at the prompt, pipe it on standard input, or name an environment \
             variable with --{}-env VAR",
            if what.contains("passphrase") {
                "passphrase"
            } else {
                "password"
            }
        )));
    }
    Ok(trimmed)
}

/// Asks for a secret: from `env_var` if given, else on the terminal (twice when `confirm`), else as a line
/// of standard input when it is free.
pub fn obtain(
    env_var: Option<&str>,
    what: &str,
    confirm: bool,
    stdin: StdinUse,
) -> Result<Zeroizing<String>> {
    if let Some(var) = env_var {
        return from_env(var, what);
    }
    let stdin_is_terminal = std::io::stdin().is_terminal();
    if !stdin_is_terminal && stdin == StdinUse::Free {
        return read_line_secret(std::io::stdin().lock(), what);
    }
    let flag = if what.contains("passphrase") {
        "--passphrase-env"
    } else {
        "--password-env"
    };
    let no_terminal = |_| {
        ClientError::Usage(format!(
            "cannot ask for the {what}: no terminal. Use {flag} VAR"
        ))
    };
    let first =
        Zeroizing::new(rpassword::prompt_password(format!("{what}: ")).map_err(no_terminal)?);
    if first.is_empty() {
        return Err(ClientError::Usage(format!("the {what} must not be empty")));
    }
    if confirm {
        let again = Zeroizing::new(
            rpassword::prompt_password(format!("repeat the {what}: ")).map_err(no_terminal)?,
        );
        if *again != *first {
            return Err(ClientError::Usage(format!("the two {what}s differ")));
        }
    }
    Ok(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_of_input_is_a_secret_without_its_line_ending() {
        let secret = read_line_secret(&b"correct horse\r\nrest"[..], "passphrase").unwrap();
        assert_eq!(secret.as_str(), "correct horse");
        let error = read_line_secret(&b"\n"[..], "passphrase").unwrap_err();
        assert!(error.to_string().contains("--passphrase-env"), "{error}");
        let error = read_line_secret(&b""[..], "password").unwrap_err();
        assert!(error.to_string().contains("--password-env"), "{error}");
    }

    #[test]
    fn environment_variables_must_be_set_and_non_empty() {
        // A name no other test or the environment uses.
        let var = "E2EE_CLIENT_SECRET_TEST_UNSET_4F1C";
        let error = from_env(var, "passphrase").unwrap_err();
        assert!(error.to_string().contains("not set"));
        assert_eq!(error.exit_code(), e2ee_client::error::exit::USAGE);
        let error = obtain(Some(var), "passphrase", false, StdinUse::Busy).unwrap_err();
        assert!(error.to_string().contains(var));
    }
}
