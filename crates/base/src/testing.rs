//! Test support (feature `testing`): the goldenscript declaration and runner trait every
//! crate's golden tests use, and how a test reports a server it needs that is not installed.
//!
//! A goldenscript (the [`goldenscript`] crate) is a file of commands and their expected
//! output, checked by a crate's runner; `UPDATE_GOLDENFILES=1` rewrites the expected output
//! for review. [`goldenscripts!`](crate::goldenscripts) declares a crate's scripts once; the
//! runner implements [`GoldenRunner`].

// A test kit: a failed `expect` fails the test that called it, with its message.
#![allow(clippy::expect_used)]

pub use goldenscript;

use std::error::Error;
use std::marker::PhantomData;

/// A crate's golden runner: the output of each command of a script, a
/// [`goldenscript::Command`] as written or a command type `C` the runner derives with
/// `#[derive(goldenscript::Command)]`. None needs the script's context or its hooks, so
/// [`goldenscripts!`](crate::goldenscripts) runs one through [`Golden`].
pub trait GoldenRunner<C = goldenscript::Command> {
    /// The output of `command`, or the error the script expects.
    fn run(&mut self, command: &C) -> Result<String, Box<dyn Error>>;
}

/// A [`GoldenRunner`] as the [`goldenscript::Runner`] that runs a script.
pub struct Golden<R, C>(R, PhantomData<fn(&C)>);

impl<R, C> Golden<R, C> {
    /// Wraps `runner`.
    pub fn new(runner: R) -> Self {
        Golden(runner, PhantomData)
    }
}

impl<R, C> goldenscript::Runner for Golden<R, C>
where
    R: GoldenRunner<C>,
    C: for<'a> TryFrom<&'a goldenscript::Command, Error = Box<dyn Error>>,
{
    type Command = C;

    fn run(&mut self, command: &C, _: &goldenscript::Context) -> Result<String, Box<dyn Error>> {
        self.0.run(command)
    }
}

/// Environment variables that, set to `1`, turn a missing server into a skipped test.
pub const SKIP_ENVS: [&str; 2] = ["SEXTANT_SKIP_MISSING_DEPS", "SEXTANT_SKIP_EXTERNAL"];

/// A server a test needs is not installed: `None` (the test skips, saying so) when a variable
/// of [`SKIP_ENVS`] is `1`, else a panic saying how to install it.
pub fn missing<T>(what: &str) -> Option<T> {
    if SKIP_ENVS
        .iter()
        .any(|v| std::env::var(v).as_deref() == Ok("1"))
    {
        eprintln!("skipping: {what} is not installed and SEXTANT_SKIP_MISSING_DEPS=1");
        return None;
    }
    panic!(
        "{what} is not installed: run scripts/test-deps.sh (or set SEXTANT_SKIP_MISSING_DEPS=1 \
         to skip the tests that need it)"
    );
}

/// Declares one `#[test]` per goldenscript of a directory, each run with a fresh runner, and
/// a test `every_script_is_run` that fails when the directory holds a file not declared.
///
/// `runner` is an expression, a [`GoldenRunner`], evaluated for each script; `dir` is relative to the crate's
/// manifest directory; a script is named by its file, or `test_name = "file"`.
///
/// ```ignore
/// base::goldenscripts! {
///     runner: PlanRunner::default(),
///     dir: "src/testdata",
///     scripts: [plan_rules, plan_edge_cases, encoder = "messages"],
/// }
/// ```
#[macro_export]
macro_rules! goldenscripts {
    (
        runner: $runner:expr,
        dir: $dir:literal,
        scripts: [$($name:ident $(= $file:literal)?),* $(,)?] $(,)?
    ) => {
        $(
            #[test]
            fn $name() -> std::io::Result<()> {
                let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join($dir);
                $crate::testing::goldenscript::run(
                    &mut $crate::testing::Golden::new($runner),
                    dir.join($crate::__goldenscript_file!($name $(, $file)?)),
                )
            }
        )*

        #[test]
        fn every_script_is_run() -> std::io::Result<()> {
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join($dir);
            let mut found = Vec::new();
            for entry in std::fs::read_dir(&dir)? {
                found.push(entry?.file_name().to_string_lossy().into_owned());
            }
            found.sort();
            let mut declared = vec![$($crate::__goldenscript_file!($name $(, $file)?)),*];
            declared.sort();
            assert_eq!(
                found,
                declared,
                "declare every script of {} in goldenscripts!",
                dir.display()
            );
            Ok(())
        }
    };
}

/// The file of a script declared in [`goldenscripts!`](crate::goldenscripts).
#[doc(hidden)]
#[macro_export]
macro_rules! __goldenscript_file {
    ($name:ident) => {
        stringify!($name)
    };
    ($name:ident, $file:literal) => {
        $file
    };
}
