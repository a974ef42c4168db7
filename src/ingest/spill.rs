//! A hospital extract larger than one batch: its accepted rows are spilled
//! to scratch Parquet in the version being built as each batch is checked,
//! split by spell bucket (the first character of the person's pseudonym,
//! where the spell key holds the person) or, once folded into spells, by
//! warehouse partition (setting and year). Spells are folded a bucket at a
//! time and each partition written from its own files, so the whole file's
//! rows are never held in memory at once.

use std::collections::BTreeMap;

use super::*;
use crate::error::{FileOp, StoreError};

/// One warehouse partition's spilled rows.
pub(super) struct Part {
    pub(super) setting: Option<String>,
    pub(super) year: Option<i32>,
    /// The first line any of its rows came from (partitions are written in
    /// the order their first rows appear in the file).
    first: u32,
    files: Vec<PathBuf>,
}

/// One file's spilled rows.
pub(super) struct Spill {
    dir: PathBuf,
    /// Rows not yet folded into spells, by bucket.
    buckets: BTreeMap<Option<String>, Vec<PathBuf>>,
    parts: Vec<Part>,
    /// Accepted rows spilled (episodes, before folding).
    pub(super) rows: usize,
    /// Rows in `parts` (spells, after folding).
    written: usize,
    /// The spell key, while rows are still to be folded.
    spell_key: Option<Vec<String>>,
    spilled: usize,
}

/// The column a row's bucket or year is kept in while spilled.
const BUCKET: &str = "_bucket";

impl Spill {
    /// An empty spill in `dir` (made when the first batch comes).
    pub(super) fn new(dir: PathBuf, source: &Source) -> Self {
        Spill {
            dir,
            buckets: BTreeMap::new(),
            parts: Vec::new(),
            rows: 0,
            written: 0,
            spell_key: source.spell_key.clone(),
            spilled: 0,
        }
    }

    /// Writes `df` to a new scratch file.
    fn write(&mut self, mut df: DataFrame) -> Result<PathBuf> {
        std::fs::create_dir_all(&self.dir).map_err(StoreError::io(FileOp::Create, &self.dir))?;
        let path = self.dir.join(format!("spill-{:06}.parquet", self.spilled));
        self.spilled += 1;
        let file = std::fs::File::create(&path).map_err(StoreError::io(FileOp::Write, &path))?;
        crate::warehouse::write_parquet_to(&mut df, &file, &path)?;
        Ok(path)
    }

    /// Spills one batch's accepted rows and leaves `accepted` with its
    /// columns and no rows. A source without a spell key has its rows folded
    /// now (each is its own episode); one with a key, when all are in.
    pub(super) fn push(&mut self, accepted: &mut DataFrame, source: &Source) -> Result<()> {
        self.rows += accepted.height();
        let empty = accepted.clear();
        let rows = std::mem::replace(accepted, empty);
        match &self.spell_key {
            None => self.add_spells(checks::fold(rows, source)?),
            Some(key) => {
                let bucket = if key.iter().any(|k| k == schema::PERSON_ID) {
                    col(schema::PERSON_ID).str().slice(lit(0), lit(1))
                } else {
                    lit(NULL).cast(DataType::String)
                };
                let rows = rows.lazy().with_column(bucket.alias(BUCKET)).collect()?;
                for g in rows.partition_by_stable([BUCKET], true)? {
                    let b = g.column(BUCKET)?.str()?.get(0).map(str::to_string);
                    let path = self.write(g.drop(BUCKET)?)?;
                    self.buckets.entry(b).or_default().push(path);
                }
                Ok(())
            }
        }
    }

    /// Spills rows folded into spells, by partition.
    fn add_spells(&mut self, spells: DataFrame) -> Result<()> {
        self.written += spells.height();
        let year = col(schema::EVENT_DATE).dt().year().alias(BUCKET);
        let spells = spells.lazy().with_column(year).collect()?;
        for g in spells.partition_by_stable([schema::SETTING, BUCKET], true)? {
            let setting = g.column(schema::SETTING)?.str()?.get(0).map(str::to_string);
            let year = g.column(BUCKET)?.i32()?.get(0);
            let first = g.column(schema::SOURCE_LINE)?.u32()?.min().unwrap_or(0);
            let path = self.write(g.drop(BUCKET)?)?;
            match self
                .parts
                .iter_mut()
                .find(|p| p.setting == setting && p.year == year)
            {
                Some(p) => {
                    p.first = p.first.min(first);
                    p.files.push(path);
                }
                None => self.parts.push(Part {
                    setting,
                    year,
                    first,
                    files: vec![path],
                }),
            }
        }
        Ok(())
    }

    /// The file's partitions in the order their first rows appear, each with
    /// its rows in line order; and how many rows they hold. Spells still to
    /// be folded are folded first, a bucket at a time.
    pub(super) fn parts(&mut self) -> Result<(Vec<(Part, LazyFrame)>, usize)> {
        if let Some(key) = self.spell_key.take() {
            for (_, files) in std::mem::take(&mut self.buckets) {
                let rows = scan(&files)?.collect()?;
                self.add_spells(checks::fold_spells(rows, &key)?)?;
                for f in files {
                    let _ = std::fs::remove_file(f);
                }
            }
        }
        let mut parts = std::mem::take(&mut self.parts);
        parts.sort_by_key(|p| p.first);
        let mut out = Vec::with_capacity(parts.len());
        for p in parts {
            let rows = scan(&p.files)?.sort([schema::SOURCE_LINE], SortMultipleOptions::default());
            out.push((p, rows));
        }
        Ok((out, self.written))
    }
}

/// The rows of scratch files, one after another.
fn scan(files: &[PathBuf]) -> Result<LazyFrame> {
    let frames = files
        .iter()
        .map(|f| warehouse::scan_file(f))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(concat(frames, UnionArgs::default())?)
}

impl Drop for Spill {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
