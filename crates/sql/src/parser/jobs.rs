//! Jobs SQL: `SHOW JOBS` in its forms and `PAUSE`/`RESUME`/`CANCEL` `JOB(S)`.

use std::fmt;

use sqlparser::ast::Expr;

use super::common::OptionValue;
use super::cursor::{Cursor, Result};
use super::query::{QueryStatement, parse_query};

/// Which jobs a statement is about.
#[derive(Clone, Debug, PartialEq)]
pub enum JobSelection {
    /// Every job (the `SHOW JOBS` default: recent and running, non-automatic).
    All,
    /// `JOB <id>`: one job; the id is an expression (a number or placeholder).
    Id(Box<Expr>),
    /// `JOBS <query>`: the job ids the query returns in its first column.
    Query(Box<QueryStatement>),
}

/// Which family of jobs `SHOW ... JOBS` lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobKind {
    /// `SHOW JOBS`: user-started jobs.
    Jobs,
    /// `SHOW AUTOMATIC JOBS`.
    Automatic,
    /// `SHOW CHANGEFEED JOBS`, with changefeed columns.
    Changefeed,
}

/// `SHOW [AUTOMATIC | CHANGEFEED] JOB(S) [WHEN COMPLETE] [<id> | <query>]
/// [WITH EXECUTION DETAILS]`.
#[derive(Clone, Debug, PartialEq)]
pub struct ShowJobs {
    /// Which family.
    pub kind: JobKind,
    /// Which jobs.
    pub selection: JobSelection,
    /// `WHEN COMPLETE`: wait until every selected job has finished.
    pub when_complete: bool,
    /// `WITH EXECUTION DETAILS`: add the plan and per-node details.
    pub execution_details: bool,
}

impl fmt::Display for ShowJobs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SHOW ")?;
        match self.kind {
            JobKind::Jobs => {}
            JobKind::Automatic => f.write_str("AUTOMATIC ")?,
            JobKind::Changefeed => f.write_str("CHANGEFEED ")?,
        }
        let when = if self.when_complete {
            " WHEN COMPLETE"
        } else {
            ""
        };
        match &self.selection {
            JobSelection::All => write!(f, "JOBS{when}")?,
            JobSelection::Id(id) => write!(f, "JOB{when} {id}")?,
            JobSelection::Query(query) => write!(f, "JOBS{when} {query}")?,
        }
        if self.execution_details {
            f.write_str(" WITH EXECUTION DETAILS")?;
        }
        Ok(())
    }
}

/// What to do to jobs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobCommand {
    /// `PAUSE`.
    Pause,
    /// `RESUME`.
    Resume,
    /// `CANCEL`.
    Cancel,
}

impl fmt::Display for JobCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            JobCommand::Pause => "PAUSE",
            JobCommand::Resume => "RESUME",
            JobCommand::Cancel => "CANCEL",
        })
    }
}

/// `{PAUSE | RESUME | CANCEL} {JOB <id> | JOBS <query>} [WITH REASON = 'why']`.
#[derive(Clone, Debug, PartialEq)]
pub struct ControlJobs {
    /// What to do.
    pub command: JobCommand,
    /// Which jobs: [`JobSelection::Id`] or [`JobSelection::Query`].
    pub selection: JobSelection,
    /// `WITH REASON = '...'` (PAUSE only): recorded in the job's status.
    pub reason: Option<OptionValue>,
}

impl fmt::Display for ControlJobs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ", self.command)?;
        match &self.selection {
            JobSelection::All => f.write_str("ALL JOBS")?,
            JobSelection::Id(id) => write!(f, "JOB {id}")?,
            JobSelection::Query(query) => write!(f, "JOBS {query}")?,
        }
        if let Some(reason) = &self.reason {
            write!(f, " WITH REASON = {reason}")?;
        }
        Ok(())
    }
}

/// Parses what follows `SHOW` for the job forms (the cursor is at `JOB`, `JOBS`, `AUTOMATIC` or
/// `CHANGEFEED`).
pub(crate) fn parse_show_jobs(c: &mut Cursor) -> Result<ShowJobs> {
    if c.eat_kws(&["AUTOMATIC", "JOBS"]) {
        let selection = JobSelection::All;
        return Ok(ShowJobs {
            kind: JobKind::Automatic,
            selection,
            when_complete: false,
            execution_details: false,
        });
    }
    let kind = if c.eat_kw("CHANGEFEED") {
        JobKind::Changefeed
    } else {
        JobKind::Jobs
    };
    if c.peek_kw("JOBS") && c.fork(c.index() + 1..c.end()).peek_kw("FOR") {
        return Err(c.unimplemented("SHOW JOBS FOR SCHEDULES"));
    }
    let one = if c.eat_kw("JOB") {
        true
    } else {
        c.expect_kw("JOBS")?;
        false
    };
    let when_complete = kind == JobKind::Jobs && c.eat_kws(&["WHEN", "COMPLETE"]);
    let selection = if one {
        JobSelection::Id(Box::new(c.expr()?))
    } else if c.at_end() || c.peek_kws(&["WITH", "EXECUTION", "DETAILS"]) {
        if when_complete {
            return Err(c.error_why("SHOW JOBS WHEN COMPLETE needs a query"));
        }
        JobSelection::All
    } else {
        JobSelection::Query(Box::new(parse_query(c)?))
    };
    let execution_details = kind == JobKind::Jobs && c.eat_kws(&["WITH", "EXECUTION", "DETAILS"]);
    c.expect_end()?;
    Ok(ShowJobs {
        kind,
        selection,
        when_complete,
        execution_details,
    })
}

/// Parses `PAUSE|RESUME|CANCEL ...`.
pub(crate) fn parse_control_jobs(c: &mut Cursor) -> Result<ControlJobs> {
    let command = if c.eat_kw("PAUSE") {
        JobCommand::Pause
    } else if c.eat_kw("RESUME") {
        JobCommand::Resume
    } else {
        c.expect_kw("CANCEL")?;
        JobCommand::Cancel
    };
    for other in [
        "QUERY",
        "QUERIES",
        "SESSION",
        "SESSIONS",
        "SCHEDULE",
        "SCHEDULES",
        "ALL",
    ] {
        if c.peek_kw(other) {
            return Err(c.unimplemented(&format!("{command} {other}")));
        }
    }
    let selection = if c.eat_kw("JOB") {
        JobSelection::Id(Box::new(c.expr()?))
    } else {
        c.expect_kw("JOBS")?;
        if c.peek_kw("FOR") {
            return Err(c.unimplemented(&format!("{command} JOBS FOR SCHEDULES")));
        }
        JobSelection::Query(Box::new(parse_query(c)?))
    };
    let reason = if command == JobCommand::Pause && c.eat_kws(&["WITH", "REASON"]) {
        c.expect_token(&sqlparser::tokenizer::Token::Eq)?;
        Some(c.string_or_placeholder()?)
    } else {
        None
    };
    c.expect_end()?;
    Ok(ControlJobs {
        command,
        selection,
        reason,
    })
}
