//! What the virtual user knows about itself and the run: its id, its
//! iteration and the variables given with `--var key=value`.

use crate::bindings::throng::scenario::context as wit;

/// This user's number, from 0, unique within the run.
///
/// ```no_run
/// let email = format!("user{}@example.test", throng_sdk::context::user_id());
/// ```
pub fn user_id() -> u32 {
    wit::user_id()
}

/// How many tasks this user started before the current one.
///
/// ```no_run
/// if throng_sdk::context::iteration() == 0 {
///     throng_sdk::log::info("first task of this user");
/// }
/// ```
pub fn iteration() -> u64 {
    wit::iteration()
}

/// The value of `--var key=value`, if the run was given one.
///
/// ```no_run
/// let room = throng_sdk::context::var("room").unwrap_or_else(|| "general".into());
/// ```
pub fn var(key: &str) -> Option<String> {
    wit::var(key)
}

/// The value of `--var key=value` parsed as `T`, or `default` when absent.
///
/// # Errors
///
/// [`Error::Message`](crate::Error::Message) naming the variable when the
/// value does not parse.
///
/// ```no_run
/// # fn f() -> throng_sdk::Result<()> {
/// let polls: u32 = throng_sdk::context::var_or("polls", 60)?;
/// # Ok(()) }
/// ```
pub fn var_or<T: std::str::FromStr>(key: &str, default: T) -> crate::Result<T> {
    match wit::var(key) {
        None => Ok(default),
        Some(text) => text.parse().map_err(|_| {
            crate::Error::Message(format!("variable `{key}` has an unusable value `{text}`"))
        }),
    }
}

/// Every `--var` of the run, in the order given.
///
/// ```no_run
/// for (key, value) in throng_sdk::context::vars() {
///     throng_sdk::log::debug(&format!("{key}={value}"));
/// }
/// ```
pub fn vars() -> Vec<(String, String)> {
    wit::vars()
}
