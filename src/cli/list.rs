//! `--search`, `--limit` and `--after` of `key list` and `model list`: the
//! admin API's keyset pages in name order, so a catalog of 100,000 keys
//! can be searched or read a page at a time instead of printed whole.
//! (`provider list` stays whole, in priority order: providers are few.)
use crate::db::paging::{ListQuery, Page, MAX_LIST_PAGE};
use crate::db::Result;
use crate::output::Printer;

#[derive(clap::Args, Debug, Clone, Default)]
pub struct ListArgs {
    /// Only names containing TEXT, case-insensitively
    #[arg(long, value_name = "TEXT")]
    pub search: Option<String>,
    /// At most N rows (1-1000), in name order; the next page starts with
    /// `--after` the last name shown
    #[arg(long, value_name = "N")]
    pub limit: Option<i64>,
    /// Only names after NAME, in name order
    #[arg(long, value_name = "NAME")]
    pub after: Option<String>,
}

impl ListArgs {
    /// Whether any of the options was given (without them a list is whole).
    pub fn is_set(&self) -> bool {
        self.search.is_some() || self.limit.is_some() || self.after.is_some()
    }

    /// The rows the options select: one page with `--limit` (and a note on
    /// stderr naming where the next one starts), every match without.
    pub fn rows<T>(
        &self,
        printer: &Printer,
        noun: &str,
        mut page: impl FnMut(&ListQuery) -> Result<Page<T>>,
    ) -> anyhow::Result<Vec<T>> {
        let mut q = ListQuery::new(
            self.search.clone(),
            self.after.clone(),
            Some(self.limit.unwrap_or(MAX_LIST_PAGE as i64)),
        )?;
        let mut rows = Vec::new();
        loop {
            let p = page(&q)?;
            rows.extend(p.rows);
            match p.next {
                Some(next) if self.limit.is_some() => {
                    printer.status(&format!(
                        "more {noun} follow: add `--after {next}` for the next page"
                    ));
                    break;
                }
                Some(next) => q.after = Some(next),
                None => break,
            }
        }
        Ok(rows)
    }
}
