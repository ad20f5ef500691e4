//! Result sets as the shell prints them: psql-style tables, CSV, TSV and records.
//!
//! A [`ResultSet`] is text already: column names, one flag per column saying whether it holds
//! numbers (right-aligned in a table), and rows of `Option<String>` where `None` is SQL NULL,
//! printed as `NULL` as `cockroach sql` does. [`render`] turns one into the text for a
//! [`Format`]; nothing here does I/O.
//!
//! The table format is psql's: a header centred over each column, a `---+---` rule, cells
//! padded with one space on each side and separated by `|`, numbers right-aligned, a cell
//! with line breaks continued on the next line with a `+` after the part that goes on, and an
//! `(N rows)` footer. Trailing blanks are trimmed from every line.

use std::fmt::Write;

/// How the shell prints a result set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// psql-style aligned table with an `(N rows)` footer.
    Table,
    /// Comma-separated values with a header line (RFC 4180 quoting).
    Csv,
    /// Tab-separated values with a header line (fields with tabs or line breaks quoted).
    Tsv,
    /// One block per row, `column | value` per line (psql's expanded display).
    Records,
}

impl Format {
    /// Parses `table`, `csv`, `tsv` or `records`.
    pub fn parse(s: &str) -> Option<Format> {
        match s {
            "table" => Some(Format::Table),
            "csv" => Some(Format::Csv),
            "tsv" => Some(Format::Tsv),
            "records" => Some(Format::Records),
            _ => None,
        }
    }
}

/// The rows a statement returned, as text.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResultSet {
    /// Column names.
    pub columns: Vec<String>,
    /// Per column: whether it holds numbers (right-aligned in a table).
    pub numeric: Vec<bool>,
    /// The rows, each as long as `columns`; `None` is NULL.
    pub rows: Vec<Vec<Option<String>>>,
}

/// How NULL is printed.
pub const NULL: &str = "NULL";

/// The text of `rs` in `format`, ending with a line break.
pub fn render(rs: &ResultSet, format: Format) -> String {
    match format {
        Format::Table => table(rs),
        Format::Csv => delimited(rs, ','),
        Format::Tsv => delimited(rs, '\t'),
        Format::Records => records(rs),
    }
}

/// `(1 row)` or `(N rows)`.
pub fn row_count(n: usize) -> String {
    if n == 1 {
        "(1 row)".to_string()
    } else {
        format!("({n} rows)")
    }
}

fn cell(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or(NULL)
}

fn width(s: &str) -> usize {
    s.chars().count()
}

fn table(rs: &ResultSet) -> String {
    let n = rs.columns.len();
    let mut widths: Vec<usize> = rs.columns.iter().map(|c| width(c)).collect();
    for row in &rs.rows {
        for (i, v) in row.iter().enumerate().take(n) {
            for line in cell(v).split('\n') {
                widths[i] = widths[i].max(width(line));
            }
        }
    }
    let mut out = String::new();
    let header: Vec<String> = rs
        .columns
        .iter()
        .zip(&widths)
        .map(|(c, w)| format!(" {} ", center(c, *w)))
        .collect();
    push_line(&mut out, &header.join("|"));
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(w + 2)).collect();
    push_line(&mut out, &rule.join("+"));
    for row in &rs.rows {
        let cells: Vec<Vec<&str>> = (0..n)
            .map(|i| row.get(i).map_or(NULL, cell).split('\n').collect())
            .collect();
        let height = cells.iter().map(Vec::len).max().unwrap_or(1);
        for line in 0..height {
            let parts: Vec<String> = (0..n)
                .map(|i| {
                    let text = cells[i].get(line).copied().unwrap_or("");
                    let more = line + 1 < cells[i].len();
                    let right = rs.numeric.get(i).copied().unwrap_or(false);
                    let padded = if right {
                        format!("{text:>w$}", w = widths[i])
                    } else {
                        format!("{text:<w$}", w = widths[i])
                    };
                    format!(" {padded}{}", if more { '+' } else { ' ' })
                })
                .collect();
            push_line(&mut out, &parts.join("|"));
        }
    }
    out.push_str(&row_count(rs.rows.len()));
    out.push('\n');
    out
}

fn center(s: &str, w: usize) -> String {
    let pad = w.saturating_sub(width(s));
    let left = pad / 2;
    format!("{}{s}{}", " ".repeat(left), " ".repeat(pad - left))
}

fn push_line(out: &mut String, line: &str) {
    out.push_str(line.trim_end());
    out.push('\n');
}

fn delimited(rs: &ResultSet, sep: char) -> String {
    let mut out = String::new();
    let line = |out: &mut String, fields: Vec<&str>| {
        let fields: Vec<String> = fields.into_iter().map(|f| quote(f, sep)).collect();
        out.push_str(&fields.join(&sep.to_string()));
        out.push('\n');
    };
    line(&mut out, rs.columns.iter().map(String::as_str).collect());
    for row in &rs.rows {
        line(&mut out, row.iter().map(cell).collect());
    }
    out
}

fn quote(s: &str, sep: char) -> String {
    if s.contains([sep, '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn records(rs: &ResultSet) -> String {
    let w = rs.columns.iter().map(|c| width(c)).max().unwrap_or(0);
    let mut out = String::new();
    for (r, row) in rs.rows.iter().enumerate() {
        let _ = writeln!(out, "-[ RECORD {} ]", r + 1);
        for (i, c) in rs.columns.iter().enumerate() {
            let v = row.get(i).map_or(NULL, cell);
            let mut lines = v.split('\n');
            let first = lines.next().unwrap_or("");
            push_line(&mut out, &format!("{c:<w$} | {first}"));
            for more in lines {
                push_line(&mut out, &format!("{:<w$} | {more}", ""));
            }
        }
    }
    if rs.rows.is_empty() {
        out.push_str(&row_count(0));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error;

    /// Builds a result set and renders it: `columns "a,b" numeric="1,0"` starts one, `row
    /// "1,x"` adds a row (fields split by `,`, `<null>` for NULL), `render <format>` prints it.
    #[derive(goldenscript::Command)]
    enum Command {
        Columns {
            names: String,
            #[arg(key)]
            numeric: Option<String>,
        },
        Row(String),
        Render(String),
    }

    #[derive(Default)]
    struct Runner {
        rs: ResultSet,
    }

    impl base::testing::GoldenRunner<Command> for Runner {
        fn run(&mut self, command: &Command) -> Result<String, Box<dyn Error>> {
            match command {
                Command::Columns { names, numeric } => {
                    let columns: Vec<String> = names.split(',').map(str::to_string).collect();
                    let numeric = match numeric {
                        Some(flags) => flags.split(',').map(|f| f == "1").collect(),
                        None => vec![false; columns.len()],
                    };
                    self.rs = ResultSet {
                        columns,
                        numeric,
                        rows: Vec::new(),
                    };
                    Ok(String::new())
                }
                Command::Row(fields) => {
                    let row = fields
                        .split(',')
                        .map(|f| (f != "<null>").then(|| f.to_string()))
                        .collect();
                    self.rs.rows.push(row);
                    Ok(String::new())
                }
                Command::Render(format) => {
                    let format = Format::parse(format).ok_or("unknown format")?;
                    Ok(render(&self.rs, format))
                }
            }
        }
    }

    base::goldenscripts! {
        runner: Runner::default(),
        dir: "src/testdata",
        scripts: [format],
    }

    #[test]
    fn row_counts() {
        assert_eq!(row_count(0), "(0 rows)");
        assert_eq!(row_count(1), "(1 row)");
        assert_eq!(row_count(12), "(12 rows)");
    }
}
