//! The neutral event model shared by both builders.

/// Options shared by the payload builders.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// Raise on a bad match key instead of dropping that key.
    pub strict: bool,
    /// "Now" in Unix seconds; `None` reads the system clock. Tests pin it.
    pub now: Option<i64>,
}
