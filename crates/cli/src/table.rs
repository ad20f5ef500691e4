//! Result tables as the SQL shell prints them: psql-style text, CSV or JSON.

use comfy_table::{CellAlignment, Table, TableComponent, presets};

/// How `node status` prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// psql-style aligned table with a row count.
    Table,
    /// Comma-separated values with a header line.
    Csv,
    /// A JSON array of objects.
    Json,
}

/// A table of strings with a header; `numeric` columns are right-aligned.
pub struct Rows {
    /// Column names.
    pub header: Vec<&'static str>,
    /// Which columns hold numbers.
    pub numeric: Vec<bool>,
    /// The rows, each as long as the header.
    pub rows: Vec<Vec<String>>,
}

impl Rows {
    /// psql-style: `|` between columns, a `-+-` line under the header, `(N rows)` after.
    pub fn to_psql(&self) -> String {
        let mut table = Table::new();
        table
            .load_preset(presets::NOTHING)
            .set_style(TableComponent::VerticalLines, '|')
            .set_style(TableComponent::HeaderLines, '-')
            .set_style(TableComponent::MiddleHeaderIntersections, '+')
            .set_header(self.header.clone());
        for row in &self.rows {
            table.add_row(row.clone());
        }
        for (i, numeric) in self.numeric.iter().enumerate() {
            if let Some(column) = table.column_mut(i) {
                column.set_cell_alignment(if *numeric {
                    CellAlignment::Right
                } else {
                    CellAlignment::Left
                });
            }
        }
        let n = self.rows.len();
        let footer = if n == 1 {
            "(1 row)".to_string()
        } else {
            format!("({n} rows)")
        };
        format!("{table}\n{footer}")
    }

    /// CSV with a header line; fields with `,`, `"` or a line break are quoted.
    pub fn to_csv(&self) -> String {
        let mut out = String::new();
        let line = |fields: &mut dyn Iterator<Item = &str>| {
            fields.map(csv_field).collect::<Vec<_>>().join(",")
        };
        out.push_str(&line(&mut self.header.iter().copied()));
        for row in &self.rows {
            out.push('\n');
            out.push_str(&line(&mut row.iter().map(String::as_str)));
        }
        out
    }
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Rows {
        Rows {
            header: vec!["id", "locality"],
            numeric: vec![true, false],
            rows: vec![
                vec!["1".into(), "region=a,az=b".into()],
                vec!["10".into(), "x\"y".into()],
            ],
        }
    }

    #[test]
    fn csv_quotes() {
        assert_eq!(
            sample().to_csv(),
            "id,locality\n1,\"region=a,az=b\"\n10,\"x\"\"y\""
        );
    }

    #[test]
    fn psql_layout() {
        let text = sample().to_psql();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 5, "{text}");
        assert!(lines[0].contains("id") && lines[0].contains('|'), "{text}");
        assert!(lines[1].contains("-+-"), "{text}");
        assert!(lines[2].contains("  1 |"), "{text}");
        assert_eq!(lines[4], "(2 rows)");
    }
}
