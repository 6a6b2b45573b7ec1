//! Plain-text tables for the admin commands' human output: left-aligned columns as wide as their
//! widest cell, two spaces apart.

/// A table with a header row.
pub struct Table {
    headers: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// An empty table with these column headers.
    pub fn new(headers: &[&'static str]) -> Self {
        Self {
            headers: headers.to_vec(),
            rows: Vec::new(),
        }
    }

    /// Adds a row (missing cells are empty).
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// Whether no row was added.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The table as lines, each indented by `indent` spaces.
    pub fn render(&self, indent: usize) -> String {
        let width = |i: usize| {
            self.rows
                .iter()
                .filter_map(|r| r.get(i))
                .map(|c| c.chars().count())
                .chain([self.headers[i].chars().count()])
                .max()
                .unwrap_or(0)
        };
        let widths: Vec<usize> = (0..self.headers.len()).map(width).collect();
        let line = |cells: Vec<&str>| {
            let mut text = " ".repeat(indent);
            for (i, width) in widths.iter().enumerate() {
                let cell = cells.get(i).copied().unwrap_or_default();
                if i + 1 == widths.len() {
                    text.push_str(cell);
                } else {
                    text.push_str(&format!("{cell:<width$}  "));
                }
            }
            text.trim_end().to_owned()
        };
        let mut out = vec![line(self.headers.clone())];
        for row in &self.rows {
            out.push(line(row.iter().map(String::as_str).collect()));
        }
        out.join("\n") + "\n"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_as_wide_as_their_widest_cell() {
        let mut table = Table::new(&["STAMP", "VERDICT"]);
        table.row(vec!["A".into(), "Up".into()]);
        table.row(vec!["Stamp B".into(), "Down".into()]);
        assert_eq!(
            table.render(2),
            "  STAMP    VERDICT\n  A        Up\n  Stamp B  Down\n"
        );
    }
}
