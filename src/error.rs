//! CLI-level errors: a [`UserError`] means the user's input or the system's
//! state is wrong (exit 1, with a hint); anything else is unexpected (exit 2).
use std::fmt;

/// An error the user can fix. Carries an optional `hint:` line.
#[derive(Debug)]
pub struct UserError {
    pub message: String,
    pub hint: Option<String>,
}

impl UserError {
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            hint: None,
        }
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for UserError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for UserError {}

/// Shorthand: `Err(user("...").hint("..."))?`.
pub fn user(message: impl Into<String>) -> UserError {
    UserError::new(message)
}

/// How an error is classified for the exit code and the `hint:` line.
pub struct Classified {
    pub is_user: bool,
    pub hint: Option<String>,
}

/// Walks the error chain: the first [`UserError`] or user-caused store error
/// decides the class and supplies the hint.
pub fn classify(err: &anyhow::Error) -> Classified {
    for cause in err.chain() {
        if let Some(u) = cause.downcast_ref::<UserError>() {
            return Classified {
                is_user: true,
                hint: u.hint.clone(),
            };
        }
        if let Some(s) = cause.downcast_ref::<crate::db::StoreError>() {
            if s.is_user_error() {
                return Classified {
                    is_user: true,
                    hint: s.hint(),
                };
            }
        }
        if cause.downcast_ref::<crate::catalog::Invalid>().is_some() {
            return Classified {
                is_user: true,
                hint: Some("see `--help` for the allowed values".into()),
            };
        }
        if let Some(c) = cause.downcast_ref::<crate::config::ConfigError>() {
            return Classified {
                is_user: true,
                hint: c.hint(),
            };
        }
    }
    Classified {
        is_user: false,
        hint: None,
    }
}
